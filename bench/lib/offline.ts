import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './results.js';

/** The framework's entry point (what `node_modules/.bin/sls` links to). */
const SLS = join(ROOT, 'node_modules/serverless/bin/serverless.js');
const TAIL_CHARS = 8_000;

/** A running `sls offline start`, read line by line as it prints. */
export interface Offline {
  readonly child: ChildProcess;
  /** The last few thousand characters it printed (for error messages). */
  tail(): string;
  /** Calls `listener` with each line and the time (`performance.now()`) it arrived. */
  onLine(listener: (line: string, at: number) => void): () => void;
  /** Resolves with the time the first line matching `pattern` arrives (from now on). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<number>;
  /** Ctrl-C, then SIGKILL after `timeoutMs`; resolves once the process has exited. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts `sls offline start` in `cwd` (as tests/helpers/offline.ts does) and resolves once a
 * line matches `ready` (at once without one: the caller listens itself). Output is consumed
 * line by line and never accumulated, so that a long benchmark with a chatty service costs
 * little memory. `listener` hears every line from the first one.
 */
export const startOffline = async (
  cwd: string,
  env: Record<string, string>,
  {
    args = [],
    ready,
    listener,
    nodeArgs = [],
  }: {
    args?: readonly string[];
    /** Options for node itself, such as `--cpu-prof` (which NODE_OPTIONS refuses). */
    nodeArgs?: readonly string[];
    ready?: RegExp;
    listener?: (line: string, at: number) => void;
  },
): Promise<Offline> => {
  const child = spawn(process.execPath, [...nodeArgs, SLS, 'offline', 'start', ...args], {
    cwd,
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
      FORCE_COLOR: '0',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const listeners = new Set<(line: string, at: number) => void>(listener ? [listener] : []);
  const reader = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const at = performance.now();
      const text = partial + chunk.toString('utf8');
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_CHARS);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) for (const listener of listeners) listener(line, at);
    };
  };
  child.stdout?.on('data', reader());
  child.stderr?.on('data', reader());
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));

  const onLine = (listener: (line: string, at: number) => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };

  const waitForLine = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<number>((resolve, reject) => {
      const off = onLine((line, at) => {
        if (!pattern.test(line)) return;
        done();
        resolve(at);
      });
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern} from sls offline:\n${tail}`));
      }, timeoutMs);
      const onExit = () => {
        done();
        reject(new Error(`sls offline exited before printing ${pattern}:\n${tail}`));
      };
      child.once('exit', onExit);
      const done = () => {
        off();
        clearTimeout(timer);
        child.off('exit', onExit);
      };
    });

  const offline: Offline = {
    child,
    tail: () => tail,
    onLine,
    waitForLine,
    stop: async (timeoutMs = 20_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
  if (!ready) return offline;
  try {
    await waitForLine(ready, 120_000);
  } catch (error) {
    await offline.stop(5_000);
    throw error;
  }
  return offline;
};
