/**
 * `npm start`: the whole system locally, in one command. Starts (or reuses) the Kafka broker,
 * creates the topics, makes the local token issuer's key pair (`.local/identity`, first run only),
 * serves the inbox store (dynalite, data in `.local/dynalite`), then runs
 * `sls offline start`; Ctrl-C stops everything this started.
 * Extra arguments go to `sls offline start` (`npm start -- --httpPort 4000`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { config } from '../shared/config.js';
import { ensureLocalIssuer } from '../shared/identity/local-issuer.js';
import { ensureBroker, stopBroker } from './lib/broker.js';
import {
  DYNALITE_DIR,
  ensureConnectionsTable,
  ensureIdempotencyTable,
  ensureInboxTable,
  startDynalite,
} from './lib/dynalite.js';
import { LOCAL_ISSUER_PATH, ROOT } from './lib/paths.js';
import { createTopics } from './lib/topics.js';

const SHUTDOWN_TIMEOUT_MS = 30_000;

const say = (message: string): void => {
  process.stderr.write(`[start] ${message}\n`);
};

/** Topics, store, and `sls offline start`, until it exits; resolves with its exit code. */
const serve = async (brokers: readonly string[]): Promise<number> => {
  await createTopics(brokers);
  // The functions verify tokens against this issuer's public keys (`npm run token` signs them).
  const issuer = await ensureLocalIssuer(LOCAL_ISSUER_PATH);
  say(
    `local token issuer: key ${issuer.keyId} in ${LOCAL_ISSUER_PATH} (npm run token -- <userId>)`,
  );
  const store = await startDynalite({ path: DYNALITE_DIR });
  try {
    const table = config().inbox.tableName;
    const tableStatus = await ensureInboxTable(store.endpoint, table);
    await ensureConnectionsTable(store.endpoint, config().realtime.connectionsTable);
    const keys = config().idempotency.tableName;
    const keysStatus = await ensureIdempotencyTable(store.endpoint, keys);
    say(
      `inbox store: ${store.endpoint} (${store.started ? `data in ${DYNALITE_DIR}` : 'already running'}), table ${table}: ${tableStatus}, table ${keys}: ${keysStatus}`,
    );
    const sls = spawn(
      join(ROOT, 'node_modules/.bin/sls'),
      ['offline', 'start', ...process.argv.slice(2)],
      {
        cwd: ROOT,
        stdio: 'inherit',
        env: {
          ...process.env,
          KAFKA_BROKERS: brokers.join(','),
          DYNAMODB_ENDPOINT: store.endpoint,
        },
      },
    );
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      say(`${signal}: stopping serverless offline`);
      sls.kill('SIGINT');
      setTimeout(() => sls.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS).unref();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return await new Promise<number>((resolve) => {
      sls.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 0 : 1)));
    });
  } finally {
    await store.close();
  }
};

const main = async (): Promise<number> => {
  // The SDK's notice that it will need Node 22 from 2027 (the lockfile pins what works), for the
  // store's clients here and the functions under sls offline alike.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const broker = await ensureBroker(config().kafka.brokers, config().localKafkaNodes);
  say(
    `Kafka: ${broker.brokers.join(',')} (${broker.started ? `started, ${broker.mode}` : 'already running'})`,
  );
  try {
    return await serve(broker.brokers);
  } finally {
    // Also when something failed after the broker started: never leave it running behind.
    if (broker.started) await stopBroker(broker.local);
    say('stopped');
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
