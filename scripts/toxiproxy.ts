/**
 * Toxiproxy for fault injection: `tsx scripts/toxiproxy.ts install` (`npm run toxiproxy:install`)
 * builds the pinned server from its Go module into `.cache/toxiproxy`; tests and benchmarks start
 * it through tests/helpers/toxiproxy.ts.
 */
import { installToxiproxy, TOXIPROXY_VERSION } from './lib/toxiproxy.js';

const log = (message: string): void => {
  process.stderr.write(`[toxiproxy] ${message}\n`);
};

const main = async (command: string | undefined): Promise<void> => {
  switch (command) {
    case 'install':
      log(`toxiproxy ${TOXIPROXY_VERSION} ready: ${await installToxiproxy()}`);
      return;
    default:
      throw new Error('usage: tsx scripts/toxiproxy.ts install');
  }
};

main(process.argv[2]).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
