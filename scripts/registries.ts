/**
 * Schema registries for the emulator's tests and benchmark: `tsx scripts/registries.ts install`
 * (`npm run registries:install`) resolves Apicurio Registry with Maven and moto with pip into
 * `.cache/`; tests start them through scripts/lib/registries.ts.
 */
import { APICURIO_VERSION, installRegistries, MOTO_VERSION } from './lib/registries.js';

const main = async (command: string | undefined): Promise<void> => {
  switch (command) {
    case 'install':
      await installRegistries();
      process.stderr.write(
        `[registries] Apicurio Registry ${APICURIO_VERSION} and moto ${MOTO_VERSION} ready\n`,
      );
      return;
    default:
      throw new Error('usage: tsx scripts/registries.ts install');
  }
};

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`[registries] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
