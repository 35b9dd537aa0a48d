import { decodeJwt } from 'jose';
import { ensureInboxTable } from '../scripts/lib/dynalite.js';
import { LOCAL_ISSUER_PATH } from '../scripts/lib/paths.js';
import { loadConfig } from '../shared/config.js';
import { verifierOf } from '../shared/identity/caller.js';
import { ensureLocalIssuer } from '../shared/identity/local-issuer.js';
import { interleave, runFigure, say } from './lib/figure.js';
import { benchBrokers, unique } from './lib/kafka.js';
import { startOffline } from './lib/offline.js';
import { compareRow } from './lib/results.js';
import { median, msSince } from './lib/stats.js';
import { startStoreProcess } from './lib/store.js';

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

export const measureAuthCost = async ({ quick }: { quick: boolean }) => {
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const rounds = quick ? 4 : 20;
  const perRound = quick ? 50 : 200;
  const warmup = quick ? 50 : 300;
  const verifyCalls = quick ? 500 : 5_000;

  const issuer = await ensureLocalIssuer(LOCAL_ISSUER_PATH);
  const token = await issuer.issue(1, { ttlS: 3_600 });

  // In process: the verifier the functions build, on the same key set file.
  const identity = loadConfig({ AUTH_MODE: 'local', IS_OFFLINE: 'true' }).identity;
  const verifier = verifierOf({ ...identity, requiredScopes: ['aws.cognito.signin.user.admin'] });
  const perCallUs = async (fn: () => unknown, calls: number) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await fn();
    return (msSince(start) * 1000) / calls;
  };
  await perCallUs(() => verifier.verify(token), warmup);
  const inProcess = await interleave(rounds, {
    verify: () => perCallUs(() => verifier.verify(token), verifyCalls / rounds),
    decode: () => perCallUs(() => decodeJwt(token), verifyCalls / rounds),
  });

  // Through sls offline.
  const brokers = await benchBrokers();
  const store = await startStoreProcess();
  const table = unique('auth-inbox');
  await ensureInboxTable(store.endpoint, table);
  say(`sls offline on :${HTTP_PORT}, store ${store.endpoint}`);
  const offline = await startOffline(
    process.cwd(),
    {
      KAFKA_BROKERS: brokers.join(','),
      DYNAMODB_ENDPOINT: store.endpoint,
      INBOX_TABLE: table,
      DEMO_MODE: 'true',
    },
    {
      args: [
        '--httpPort',
        String(HTTP_PORT),
        '--lambdaPort',
        String(HTTP_PORT + 2),
        '--param',
        `topic=${unique('auth-unused')}`,
      ],
      ready: /Server ready/,
    },
  );
  try {
    const get = async (withToken: boolean) => {
      const start = process.hrtime.bigint();
      const response = await fetch(`${BASE}/notifications/1?limit=20`, {
        headers: withToken ? { authorization: `Bearer ${token}` } : {},
      });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`GET answered ${response.status}`);
      return msSince(start);
    };
    for (let i = 0; i < warmup; i++) {
      await get(true);
      await get(false);
    }
    const roundOf = (withToken: boolean) => async () => {
      const latencies: number[] = [];
      for (let i = 0; i < perRound; i++) latencies.push(await get(withToken));
      return median(latencies);
    };
    const http = await interleave(rounds, { token: roundOf(true), none: roundOf(false) });

    return {
      id: 'auth-cost',
      title: 'The cost of verifying the token, per warm request',
      startedAt: startedAt.toISOString(),
      durationMs: msSince(t0),
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
        `${rounds} rounds of ${perRound} sequential requests per path after ${warmup} warm-up requests each; each round's value is its median latency.`,
        `In process: ${verifyCalls} calls per path over the same rounds, one 2048-bit RS256 token of the local issuer, its key set read once.`,
        'On AWS, API Gateway verifies the token before the function runs, and the function only reads the claims; this measures what the local stage adds, and what the function would pay if it verified itself.',
      ],
    };
  } finally {
    await offline.stop();
    await store.stop();
  }
};

await runFigure(import.meta.url, measureAuthCost);
