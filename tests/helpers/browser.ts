import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_BIN, chromiumVersion } from '../../scripts/lib/chromium.js';

/**
 * A real headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core) with a
 * profile of its own: each call is one person's browser (own cookies, own storage).
 */
export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export const launchBrowser = async (): Promise<TestBrowser> => {
  if (!chromiumVersion()) {
    throw new Error(`${CHROMIUM_BIN} is not installed: run npm run chromium:install.`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'notifications-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width: 900, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
