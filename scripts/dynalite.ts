/**
 * The local store, by hand: `tsx scripts/dynalite.ts` (`npm run store:start`) serves dynalite
 * on 127.0.0.1:8000 with its data in `.local/dynalite`, creates the inbox, connections and
 * Idempotency-Keys' tables, and runs until Ctrl-C. With `--memory`, nothing is kept; with
 * `--port N`, another port (0: a free one, printed). If a DynamoDB already answers on the port,
 * it only creates the tables there.
 */
import { config } from '../shared/config.js';
import {
  DYNALITE_DIR,
  ensureConnectionsTable,
  ensureIdempotencyTable,
  ensureInboxTable,
  startDynalite,
} from './lib/dynalite.js';

const say = (message: string): void => {
  process.stderr.write(`[dynalite] ${message}\n`);
};

const main = async (args: readonly string[]): Promise<void> => {
  // The SDK's notice that it will need Node 22 from 2027; the lockfile pins what works.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const inMemory = args.includes('--memory');
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args[portAt + 1]) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(
      `--port must be a port number (0 for a free one); received ${args[portAt + 1]}`,
    );
  }
  const store = await startDynalite({
    ...(inMemory ? {} : { path: DYNALITE_DIR }),
    ...(port === undefined ? {} : { port }),
  });
  const tableName = config().inbox.tableName;
  const table = await ensureInboxTable(store.endpoint, tableName);
  say(`table ${tableName}: ${table}`);
  const connectionsName = config().realtime.connectionsTable;
  const connections = await ensureConnectionsTable(store.endpoint, connectionsName);
  say(`table ${connectionsName}: ${connections}`);
  const keysName = config().idempotency.tableName;
  say(`table ${keysName}: ${await ensureIdempotencyTable(store.endpoint, keysName)}`);
  if (!store.started) {
    say(`${store.endpoint} already answers; nothing started`);
    return;
  }
  say(
    `serving ${store.endpoint} (${inMemory ? 'in memory' : `data in ${DYNALITE_DIR}`}); Ctrl-C stops`,
  );
  const stop = () => {
    say('stopping');
    store.close().then(
      () => process.exit(0),
      (error: unknown) => {
        say(`could not close cleanly: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
};

main(process.argv.slice(2)).catch((error: unknown) => {
  say(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
