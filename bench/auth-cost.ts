import { decodeJwt } from 'jose';
import { ensureInboxTable } from '../scripts/lib/dynalite.js';
import { ROOT } from '../scripts/lib/paths.js';
import { loadConfig } from '../shared/config.js';
import { verifierOf } from '../shared/identity/authenticator.js';
import { LOCAL_ISSUER } from '../shared/identity/constants.js';
import { localBrokers, unique } from '../tests/helpers/kafka.js';
import { startOffline } from '../tests/helpers/offline.js';
import { testIssuer, testKeySetFile } from '../tests/helpers/tokens.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow } from './lib/results.js';
import { median, msSince } from './lib/stats.js';
import { startStoreProcess } from './lib/store-process.js';

/**
 * The cost of verifying the caller's token, per warm request.
 *
 * 1. Through `sls offline start` on the local stage, where the function verifies each token
 *    (RS256 signature and claims, as API Gateway's authorizer does on AWS): `GET
 *    /notifications/1` with Emma's token, against the very same request with no token, which
 *    demo mode lets in on that route. Same function, same warm worker, same inbox: the only
 *    difference is the verification. One request at a time; rounds alternate which goes first.
 * 2. In process: `verify(token)` alone, against decoding the token without verifying it (what
 *    serverless-offline's own authorizer does), in microseconds per call.
 */

const HTTP_PORT = 3400;
const BASE = `http://127.0.0.1:${HTTP_PORT}`;

interface Sizes {
  readonly rounds: number;
  readonly perRound: number;
  readonly warmup: number;
  readonly verifyCalls: number;
}

/** The local issuer's token for Emma; the verifier the functions build; sls offline serving both. */
const setup = async () => {
  const issuer = await testIssuer();
  const token = await issuer.issue(1, { ttlS: LOCAL_ISSUER.MAX_TTL_S });
  // The test issuer's own key set (a temporary folder), for the verifier and sls offline alike.
  const keySetFile = testKeySetFile();
  const identity = loadConfig({
    AUTH_MODE: 'local',
    IS_OFFLINE: 'true',
    AUTH_JWKS_FILE: keySetFile,
  }).identity;
  const verifier = verifierOf({ ...identity, requiredScopes: [LOCAL_ISSUER.SCOPE] });

  const brokers = await localBrokers();
  const store = await startStoreProcess();
  const table = unique('bench-auth-inbox');
  await ensureInboxTable(store.endpoint, table);
  say(`sls offline on :${HTTP_PORT}, store ${store.endpoint}`);
  const offline = await startOffline(
    ROOT,
    {
      KAFKA_BROKERS: brokers.join(','),
      DYNAMODB_ENDPOINT: store.endpoint,
      INBOX_TABLE: table,
      DEMO_MODE: 'true',
      AUTH_JWKS_FILE: keySetFile,
    },
    {
      args: [
        '--httpPort',
        String(HTTP_PORT),
        // The HTTP path alone: no per-sender limit (its store call) in the figures.
        '--param',
        'sendRateLimit=0',
        // A topic nobody writes: the consumer of this instance reads nothing.
        '--param',
        `topic=${unique('bench-auth-unused')}`,
        // No pushing consumer either: only the HTTP path is measured.
        '--param',
        'pushEnabled=false',
      ],
      keepChars: 8_000,
    },
  );
  return {
    token,
    verifier,
    close: async () => {
      await offline.stop();
      await store.stop();
    },
  };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** One GET, with the token or with none; its latency in milliseconds. */
const get = async (token: string | undefined): Promise<number> => {
  const start = process.hrtime.bigint();
  const response = await fetch(`${BASE}/notifications/1?limit=20`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`GET answered ${response.status}`);
  return msSince(start);
};

/** Microseconds per call of `fn`, over `calls` calls in a row. */
const perCallUs = async (fn: () => unknown, calls: number): Promise<number> => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return (msSince(start) * 1000) / calls;
};

const drive = async ({ token, verifier }: Bench, sizes: Sizes) => {
  await perCallUs(() => verifier.verify(token), sizes.warmup);
  const calls = Math.ceil(sizes.verifyCalls / sizes.rounds);
  const inProcess = await interleave(sizes.rounds, {
    verify: () => perCallUs(() => verifier.verify(token), calls),
    decode: () => perCallUs(() => decodeJwt(token), calls),
  });
  for (let i = 0; i < sizes.warmup; i++) {
    await get(token);
    await get(undefined);
  }
  const round = (withToken: string | undefined) => async () => {
    const latencies: number[] = [];
    for (let i = 0; i < sizes.perRound; i++) latencies.push(await get(withToken));
    return median(latencies);
  };
  const http = await interleave(sizes.rounds, { token: round(token), none: round(undefined) });
  return { inProcess, http };
};

const report = (
  { inProcess, http }: Awaited<ReturnType<typeof drive>>,
  _bench: Bench,
  sizes: Sizes,
) => ({
  id: 'auth-cost',
  title: 'The cost of verifying the token, per warm request',
  rows: [
    compareRow({
      figure: 'token verification, warm request',
      metric: 'p50 (ms)',
      oursLabel: 'GET /notifications/1 with a verified token (sls offline, local stage)',
      baselineLabel: 'the same request without a token (demo mode)',
      ours: http.token,
      baseline: http.none,
    }),
    compareRow({
      figure: 'token verification, in process',
      metric: 'µs per call',
      oursLabel: 'verify: RS256 signature, kid, iss, client_id, exp, scope, user id',
      baselineLabel: "decode only (serverless-offline's own authorizer)",
      ours: inProcess.verify,
      baseline: inProcess.decode,
    }),
  ],
  facts: [
    `${sizes.rounds} rounds of ${sizes.perRound} sequential requests per path after ${sizes.warmup} warm-up requests each; each round's value is its median latency.`,
    `In process: about ${sizes.verifyCalls} calls per path over the same number of rounds, one 2048-bit RS256 token of the local issuer, its key set read once.`,
    'On AWS, API Gateway verifies the token before the function runs, and the function only reads the claims: this is what the local stage adds per request, and what a function would pay to verify tokens itself.',
  ],
});

export const measureAuthCost = defineFigure({
  sizes: ({ quick }): Sizes =>
    quick
      ? { rounds: 4, perRound: 50, warmup: 50, verifyCalls: 500 }
      : { rounds: 20, perRound: 200, warmup: 300, verifyCalls: 5_000 },
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureAuthCost);
