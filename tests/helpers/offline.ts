import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { testKeySetFile } from './tokens.js';

const ROOT = join(import.meta.dirname, '../..');
/** The framework's entry point (what `node_modules/.bin/sls` links to). */
const SLS = join(ROOT, 'node_modules/serverless/bin/serverless.js');

/** A running `sls offline start`, heard line by line as it prints. */
export interface Offline {
  readonly child: ChildProcess;
  /** What it printed so far (the last `keepChars` characters of it). */
  output(): string;
  /** Calls `listener` with each line and the time (`performance.now()`) it arrived. */
  onLine(listener: (line: string, at: number) => void): () => void;
  /** Resolves when the output kept so far matches `pattern` (checked as output arrives). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the time the first line matching `pattern` arrives (from now on). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<number>;
  /** Ctrl-C, then SIGKILL after `timeoutMs`; resolves with the exit code once it has exited. */
  stop(timeoutMs?: number): Promise<number | null>;
}

export interface OfflineOptions {
  /** Arguments after `sls offline start`. */
  readonly args?: readonly string[];
  /**
   * Resolve once the output matches this (by default the HTTP server's `Server ready`; a
   * service without HTTP events never prints it). `null`: at once, the caller listens itself.
   */
  readonly ready?: RegExp | null;
  /** Options for node itself, such as `--cpu-prof` (which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
  /** Hears every line from the first one, with the time it arrived. */
  readonly listener?: (line: string, at: number) => void;
  /**
   * Characters of output kept for `output()` and error messages: all of it by default; a long
   * benchmark with a chatty service keeps a tail, so that it costs little memory.
   */
  readonly keepChars?: number;
  /** The framework's entry point: by default the repository's; a project of its own has its own. */
  readonly sls?: string;
}

/**
 * `args`, plus `--websocketPort <httpPort + 1>` and `--lambdaPort <httpPort + 2>` when an HTTP
 * port is given and they are not: they would otherwise take serverless-offline's defaults (3001,
 * 3002), the ports of `npm start`, whatever HTTP port the test chose.
 */
const withPorts = (args: readonly string[]): string[] => {
  const http = args.indexOf('--httpPort');
  if (http < 0) return [...args];
  const port = Number(args[http + 1]);
  return [
    ...args,
    ...(args.includes('--websocketPort') ? [] : ['--websocketPort', String(port + 1)]),
    ...(args.includes('--lambdaPort') ? [] : ['--lambdaPort', String(port + 2)]),
  ];
};

/**
 * Starts `sls offline start` in `cwd` with `env` added to this process's environment, and the
 * test process's local issuer (tests/helpers/tokens.ts) as the issuer whose keys it reads.
 */
export const startOffline = async (
  cwd: string,
  env: Record<string, string>,
  {
    args = [],
    ready = /Server ready/,
    nodeArgs = [],
    listener,
    keepChars = Number.POSITIVE_INFINITY,
    sls = SLS,
  }: OfflineOptions = {},
): Promise<Offline> => {
  const child = spawn(
    process.execPath,
    [...nodeArgs, sls, 'offline', 'start', ...withPorts(args)],
    {
      cwd,
      env: {
        ...process.env,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        // The test process's local issuer, not the developer's `.local/identity`.
        AUTH_JWKS_FILE: testKeySetFile(),
        ...env,
        FORCE_COLOR: '0',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  const lineListeners = new Set<(line: string, at: number) => void>(listener ? [listener] : []);
  const textListeners = new Set<() => void>();
  /** Each stream has its own partial last line. */
  const reader = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const at = performance.now();
      const received = chunk.toString('utf8');
      text += received;
      if (text.length > keepChars) text = text.slice(-keepChars);
      const lines = (partial + received).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) for (const hear of lineListeners) hear(line, at);
      for (const check of textListeners) check();
    };
  };
  child.stdout?.on('data', reader());
  child.stderr?.on('data', reader());
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const tail = () => text.slice(-4000);

  const onLine = (hear: (line: string, at: number) => void) => {
    lineListeners.add(hear);
    return () => lineListeners.delete(hear);
  };

  /** Settles when `watch` calls its `done`, or fails on timeout or exit. */
  const waitFor = <T>(
    what: string,
    timeoutMs: number,
    watch: (done: (value: T) => void) => () => void,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let unwatch = () => {};
      const cleanup = () => {
        clearTimeout(timer);
        unwatch();
        child.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what} in sls offline output:\n${tail()}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`sls offline exited before printing ${what}:\n${tail()}`));
      };
      child.on('exit', onExit);
      unwatch = watch((value) => {
        cleanup();
        resolve(value);
      });
    });

  const waitForOutput = (pattern: RegExp, timeoutMs = 60_000) =>
    waitFor<void>(String(pattern), timeoutMs, (done) => {
      const check = () => {
        if (pattern.test(text)) done();
      };
      textListeners.add(check);
      queueMicrotask(check);
      return () => textListeners.delete(check);
    });

  const waitForLine = (pattern: RegExp, timeoutMs = 60_000) =>
    waitFor<number>(String(pattern), timeoutMs, (done) =>
      onLine((line, at) => {
        if (pattern.test(line)) done(at);
      }),
    );

  const offline: Offline = {
    child,
    output: () => text,
    onLine,
    waitForOutput,
    waitForLine,
    stop: async (timeoutMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  if (ready === null) return offline;
  try {
    await waitForOutput(ready, 120_000);
  } catch (error) {
    await offline.stop(5_000);
    throw error;
  }
  return offline;
};
