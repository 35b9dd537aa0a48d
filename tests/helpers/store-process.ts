import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

/**
 * dynalite in a process of its own (`scripts/dynalite.ts --memory --port 0`) with both tables:
 * in the test's process, it would share one event loop with the load it serves and slow both.
 */
export const startStoreProcess = (tables: Record<string, string>) =>
  new Promise<{ endpoint: string; stop: () => Promise<void> }>((resolve, reject) => {
    const child = spawn(TSX, [join(ROOT, 'scripts/dynalite.ts'), '--memory', '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, ...tables },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let text = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const endpoint = /serving (http:\/\/\S+)/.exec(text)?.[1];
      if (!endpoint) return;
      child.stderr?.removeAllListeners('data');
      child.stderr?.resume();
      resolve({
        endpoint,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.once('exit', (code) => reject(new Error(`dynalite exited (${code}): ${text}`)));
  });
