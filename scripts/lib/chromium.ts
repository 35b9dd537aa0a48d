import { answers, run, runInherit } from './process.js';

/**
 * The browser of the browser tests: Debian's `chromium` package, driven by playwright-core (which
 * downloads no browser of its own).
 */

export const CHROMIUM_BIN = '/usr/bin/chromium';

/**
 * Chromium's flags for tests: headless, no sandbox (root in CI), and nothing that reaches out on
 * its own (no QUIC, background networking, component updates or sync).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** Chromium's version line, or `undefined` when it is not installed. */
export const chromiumVersion = (): string | undefined => {
  const result = run(CHROMIUM_BIN, ['--version'], { timeoutMs: 30_000 });
  return result.code === 0 ? result.stdout.trim() : undefined;
};

/** Installs Debian's chromium with apt-get when missing (as root, as CI runs). */
export const installChromium = async (): Promise<string> => {
  const installed = chromiumVersion();
  if (installed) return installed;
  if (!answers('apt-get', ['--version'])) {
    throw new Error(`${CHROMIUM_BIN} is missing and there is no apt-get: install Chromium.`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runInherit('apt-get', ['update'], { env });
  await runInherit('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env });
  const version = chromiumVersion();
  if (!version) throw new Error(`apt-get installed chromium, but ${CHROMIUM_BIN} does not run.`);
  return version;
};
