import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './paths.js';
import { answers, run, runInherit } from './process.js';

/**
 * Toxiproxy, Shopify's TCP proxy for fault injection, built from its Go module into `.cache/`:
 * tests and benchmarks put it between the functions and the broker (or the store) to cut, slow
 * or reset their connections. It needs Go once; nothing is downloaded at test time.
 */

/** The pinned version; one place to change it. */
export const TOXIPROXY_VERSION = '2.12.0';
const MODULE = 'github.com/Shopify/toxiproxy/v2/cmd/server';
const BIN_DIR = join(CACHE_DIR, 'toxiproxy', TOXIPROXY_VERSION);

/** The server's executable (`go install` names it `server`; renamed to say what it is). */
export const TOXIPROXY_BIN = join(BIN_DIR, 'toxiproxy-server');
/** Written after a complete build: a module build prints no version (`-version` says `git`). */
const COMPLETE = join(BIN_DIR, '.complete');

/** How to install it, for messages. */
export const TOXIPROXY_INSTALL_HINT =
  'run `npm run toxiproxy:install` (needs Go 1.22+; builds toxiproxy into .cache/toxiproxy)';

/**
 * The broker's second listener, for clients that must reach Kafka through a proxy: the broker
 * listens on `upstream` and advertises `advertised`, where the proxy listens. A client
 * bootstrapped at `advertised` is told to come back to `advertised` for every request, so all
 * of its traffic crosses the proxy (the plain listener advertises itself and would bypass it).
 * scripts/kafka/server.properties and docker-compose.yml declare it (tests/unit/local-broker).
 */
export const PROXIED_LISTENER = {
  name: 'PROXIED',
  upstream: '127.0.0.1:9094',
  advertised: '127.0.0.1:19094',
} as const;

/** Whether the pinned server is built and runs. */
export const toxiproxyInstalled = (): boolean =>
  existsSync(COMPLETE) &&
  readFileSync(COMPLETE, 'utf8').trim() === TOXIPROXY_VERSION &&
  run(TOXIPROXY_BIN, ['-version'], { timeoutMs: 10_000 }).code === 0;

/** Builds the pinned toxiproxy server with `go install` unless it is already there. */
export const installToxiproxy = async (): Promise<string> => {
  if (toxiproxyInstalled()) return TOXIPROXY_BIN;
  if (!answers('go', ['version'])) {
    throw new Error(
      `Go is needed once to build toxiproxy: install Go 1.22+, then ${TOXIPROXY_INSTALL_HINT}`,
    );
  }
  rmSync(BIN_DIR, { recursive: true, force: true });
  mkdirSync(BIN_DIR, { recursive: true });
  await runInherit('go', ['install', `${MODULE}@v${TOXIPROXY_VERSION}`], {
    env: { ...process.env, GOBIN: BIN_DIR },
  });
  renameSync(join(BIN_DIR, 'server'), TOXIPROXY_BIN);
  writeFileSync(COMPLETE, `${TOXIPROXY_VERSION}\n`);
  if (!toxiproxyInstalled()) {
    throw new Error(`toxiproxy ${TOXIPROXY_VERSION} was built, but ${TOXIPROXY_BIN} does not run`);
  }
  return TOXIPROXY_BIN;
};
