import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDynalite } from '../../scripts/lib/dynalite.js';
import { isMain } from './figure.js';

/**
 * dynalite in a process of its own, in memory, on a free port: under load, a store served from
 * the benchmark's own event loop would delay the load generator and its measurements (and the
 * other way round). Run as a script, it prints its endpoint and serves until SIGTERM.
 */

export interface StoreProcess {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export const startStoreProcess = (): Promise<StoreProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const line = /^(http:\/\/\S+)\n/m.exec(out);
      if (!line?.[1]) return;
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({
        endpoint: line[1],
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the store process exited (${code}): ${out}`)));
  });

if (isMain(import.meta.url)) {
  const store = await startDynalite({ port: 0 });
  process.stdout.write(`${store.endpoint}\n`);
  process.once('SIGTERM', () => {
    void store.close().finally(() => process.exit(0));
  });
}
