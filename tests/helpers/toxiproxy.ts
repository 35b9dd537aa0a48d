import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import {
  PROXIED_LISTENER,
  TOXIPROXY_BIN,
  TOXIPROXY_INSTALL_HINT,
} from '../../scripts/lib/toxiproxy.js';

/**
 * Fault injection with a real Toxiproxy server (scripts/lib/toxiproxy.ts builds it): start one,
 * put proxies in front of the broker or the store, and cut, slow or reset their connections
 * through its HTTP API. Usable by tests and benchmarks alike (it imports nothing from Vitest).
 *
 * ```ts
 * const toxiproxy = await startToxiproxy();
 * const kafka = await toxiproxy.proxyBroker();          // clients use kafka.listen (127.0.0.1:19094)
 * await kafka.down();                                    // refused: nothing listens any more
 * await kafka.up();
 * const slow = await kafka.latency(800);                 // every chunk waits 800 ms
 * await kafka.removeToxic(slow);
 * await toxiproxy.stop();
 * ```
 */

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const API_TIMEOUT_MS = 5_000;

/** Which way a toxic acts: on what the client sends (`upstream`) or what it receives. */
export type Stream = 'upstream' | 'downstream';

/** A toxic's attributes, as Toxiproxy's API names them (times in ms, rates in KB/s). */
export interface ToxicAttributes {
  latency: { latency: number; jitter?: number };
  /** Holds data back, then closes the connection after `timeout` ms (0: never closes). */
  timeout: { timeout: number };
  /** Resets the connection (TCP RST) after `timeout` ms. */
  reset_peer: { timeout: number };
  bandwidth: { rate: number };
  slow_close: { delay: number };
  limit_data: { bytes: number };
}
export type ToxicType = keyof ToxicAttributes;

export interface ToxicOptions {
  readonly stream?: Stream;
  /** Share of connections affected, 0 to 1 (default 1). */
  readonly toxicity?: number;
  /** Defaults to `<type>_<stream>`. */
  readonly name?: string;
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; closed again before returning). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** One proxy: `listen` forwards to `upstream` until told otherwise. */
export class ToxicProxy {
  constructor(
    readonly api: ToxiproxyApi,
    readonly name: string,
    /** Where clients connect, such as `127.0.0.1:19094`. */
    readonly listen: string,
    readonly upstream: string,
  ) {}

  /** Adds a toxic and returns its name (for `removeToxic`). */
  async addToxic<T extends ToxicType>(
    type: T,
    attributes: ToxicAttributes[T],
    { stream = 'downstream', toxicity = 1, name = `${type}_${stream}` }: ToxicOptions = {},
  ): Promise<string> {
    await this.api.request('POST', `/proxies/${this.name}/toxics`, {
      name,
      type,
      stream,
      toxicity,
      attributes,
    });
    return name;
  }

  async removeToxic(name: string): Promise<void> {
    await this.api.request('DELETE', `/proxies/${this.name}/toxics/${name}`);
  }

  /** Removes every toxic of this proxy. */
  async clearToxics(): Promise<void> {
    const toxics = (await this.api.request('GET', `/proxies/${this.name}/toxics`)) as {
      name: string;
    }[];
    for (const toxic of toxics) await this.removeToxic(toxic.name);
  }

  /** Every chunk in both directions waits `ms` (± `jitter`). */
  async latency(ms: number, jitter = 0): Promise<string[]> {
    return [
      await this.addToxic('latency', { latency: ms, jitter }, { stream: 'upstream' }),
      await this.addToxic('latency', { latency: ms, jitter }, { stream: 'downstream' }),
    ];
  }

  /**
   * A black hole: connections stay open but nothing gets through; after `closeAfterMs` (0:
   * never) they are closed. What a peer that froze or a dropped route looks like.
   */
  blackhole(closeAfterMs = 0): Promise<string> {
    return this.addToxic('timeout', { timeout: closeAfterMs }, { stream: 'upstream' });
  }

  /** Connections are reset (TCP RST) `afterMs` after they open, and new ones too. */
  resetPeer(afterMs = 0): Promise<string> {
    return this.addToxic('reset_peer', { timeout: afterMs }, { stream: 'upstream' });
  }

  /** At most `kilobytesPerSecond` KB/s towards the client. */
  bandwidth(kilobytesPerSecond: number): Promise<string> {
    return this.addToxic('bandwidth', { rate: kilobytesPerSecond });
  }

  /** Down: open connections are closed and new ones refused, as when the peer is stopped. */
  async down(): Promise<void> {
    await this.api.request('POST', `/proxies/${this.name}`, { enabled: false });
  }

  /** Up again: listening and forwarding. */
  async up(): Promise<void> {
    await this.api.request('POST', `/proxies/${this.name}`, { enabled: true });
  }

  /** Up, without toxics. */
  async heal(): Promise<void> {
    await this.up();
    await this.clearToxics();
  }
}

/** The HTTP API of a Toxiproxy server. */
export class ToxiproxyApi {
  constructor(readonly url: string) {}

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`toxiproxy ${method} ${path} answered ${response.status}: ${text}`);
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  /** Creates (or replaces) a proxy from `listen` to `upstream`. */
  async createProxy(name: string, listen: string, upstream: string): Promise<ToxicProxy> {
    await this.request('DELETE', `/proxies/${name}`).catch(() => undefined);
    await this.request('POST', '/proxies', { name, listen, upstream, enabled: true });
    return new ToxicProxy(this, name, listen, upstream);
  }

  /**
   * The proxy in front of the broker's `PROXIED` listener (scripts/kafka/server.properties):
   * clients given `proxy.listen` as their brokers go through it for every request.
   */
  proxyBroker(name = 'kafka'): Promise<ToxicProxy> {
    return this.createProxy(name, PROXIED_LISTENER.advertised, PROXIED_LISTENER.upstream);
  }

  /** A plain TCP proxy on a free port in front of `upstream` (`host:port`), e.g. the store. */
  async proxyTo(name: string, upstream: string): Promise<ToxicProxy> {
    return this.createProxy(name, `${HOST}:${await freePort()}`, upstream);
  }

  /** Every proxy up, every toxic gone. */
  async reset(): Promise<void> {
    await this.request('POST', '/reset');
  }
}

/** A running Toxiproxy server started by `startToxiproxy`. */
export type ToxiproxyServer = ToxiproxyApi & {
  readonly process: ChildProcess;
  /** What the server printed (warnings and errors only). */
  output(): string;
  stop(): Promise<void>;
};

/**
 * Starts the Toxiproxy server built by `npm run toxiproxy:install` on 127.0.0.1 (a free port
 * unless `port` is given) and resolves once its API answers.
 */
export const startToxiproxy = async ({
  port,
}: {
  port?: number;
} = {}): Promise<ToxiproxyServer> => {
  if (!existsSync(TOXIPROXY_BIN)) {
    throw new Error(`toxiproxy is not built: ${TOXIPROXY_INSTALL_HINT}`);
  }
  const apiPort = port ?? (await freePort());
  // Through a shell that stops the server when our end of its stdin closes, so that a test
  // process that dies (killed, out of memory) never leaves a server holding the ports.
  const child = spawn(
    'sh',
    [
      '-c',
      '"$0" "$@" </dev/null & server=$!; cat >/dev/null; kill $server; wait $server',
      TOXIPROXY_BIN,
      '-host',
      HOST,
      '-port',
      String(apiPort),
    ],
    {
      // It logs every connection at info level.
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const api = new ToxiproxyApi(`http://${HOST}:${apiPort}`);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`toxiproxy exited during start-up:\n${text}`);
    try {
      await api.request('GET', '/version');
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`toxiproxy did not answer on ${api.url} in ${START_TIMEOUT_MS} ms`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return Object.assign(api, { process: child, output: () => text, stop });
};
