/**
 * The browser tests' Chromium: `tsx scripts/chromium.ts install` (`npm run chromium:install`)
 * installs Debian's `chromium` package unless `/usr/bin/chromium` runs already.
 */
import { CHROMIUM_BIN, installChromium } from './lib/chromium.js';

const log = (message: string): void => {
  process.stderr.write(`[chromium] ${message}\n`);
};

const main = async (command: string | undefined): Promise<void> => {
  if (command !== 'install') throw new Error('usage: tsx scripts/chromium.ts install');
  log(`${await installChromium()} ready: ${CHROMIUM_BIN}`);
};

main(process.argv[2]).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
