import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');
const SLS = join(ROOT, 'node_modules/.bin/sls');

/** A running `sls offline start`, with everything it printed so far. */
export interface Offline {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `pattern` (checked as output arrives). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends Ctrl-C and resolves with the exit code once the process has exited. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Starts `sls offline start` in `cwd` and waits until it prints `ready` (by default the HTTP
 * server's `Server ready`; a service without HTTP events never prints it).
 */
export const startOffline = async (
  cwd: string,
  env: Record<string, string>,
  { args = [], ready = /Server ready/ }: { args?: readonly string[]; ready?: RegExp } = {},
): Promise<Offline> => {
  const child = spawn(SLS, ['offline', 'start', ...args], {
    cwd,
    env: { ...process.env, ...env, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitForOutput = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(text)) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out waiting for ${pattern} in sls offline output:\n${text.slice(-4000)}`,
          ),
        );
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`sls offline exited before printing ${pattern}:\n${text.slice(-4000)}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.on('exit', onExit);
      check();
    });

  const offline: Offline = {
    child,
    output: () => text,
    waitForOutput,
    stop: async (timeoutMs = 30_000) => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  try {
    await waitForOutput(ready, 120_000);
  } catch (error) {
    await offline.stop(5_000);
    throw error;
  }
  return offline;
};
