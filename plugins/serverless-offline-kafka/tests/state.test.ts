import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { compileFilters } from '../src/filter.js';
import { Poller } from '../src/poller.js';
import { KafkaEventSource } from '../src/source.js';
import { type PluginState, serveState, stateOf } from '../src/state.js';
import { b64, deferred, fakeHost, message, silent, testMapping, until, within } from './support.js';

/**
 * The plugin's read-only state (README, "State"): what a poller and a mapping report, and the
 * loopback HTTP server that answers it.
 */

const require = createRequire(import.meta.url);
const PARTITION = 2;
const started: InstanceType<typeof Poller>[] = [];
const servers: import('node:http').Server[] = [];

afterEach(async () => {
  for (const poller of started.splice(0)) {
    poller.stop();
    await within(poller.done, 2_000, 'a poller stopping after its test');
  }
  for (const server of servers.splice(0)) server.close();
});

const start = (host: ReturnType<typeof fakeHost>['host']) => {
  const poller = new Poller(host);
  started.push(poller);
  return poller;
};

const partitionOf = (poller: InstanceType<typeof Poller>) => {
  const [p] = poller.snapshot().partitions;
  if (!p) throw new Error('the poller owns no partition');
  return p;
};

describe('Poller.snapshot', () => {
  it('shows the batch in flight with its offsets and since when, then its commit and counters', async () => {
    const answer = deferred<null>();
    let clock = 1_764_000_000_000;
    const fake = fakeHost({ respond: () => answer.promise, now: () => clock });
    const poller = start(fake.host);
    poller.enqueue(PARTITION, [message(7), message(8), message(9)], '10');
    await until(() => fake.invocations.length === 1, 'the first invocation');

    expect(partitionOf(poller)).toEqual({
      partition: PARTITION,
      highWatermark: 10,
      committed: null,
      lag: 3,
      waiting: 3,
      inFlight: {
        partition: PARTITION,
        firstOffset: 7,
        lastOffset: 9,
        records: 3,
        since: 1_764_000_000_000,
        attempts: 0,
        lastError: null,
      },
    });
    clock += 500;
    answer.resolve(null);
    await until(() => partitionOf(poller).committed === 10, 'the commit');

    const snapshot = poller.snapshot();
    expect(snapshot.partitions).toEqual([
      {
        partition: PARTITION,
        highWatermark: 10,
        committed: 10,
        lag: 0,
        waiting: 0,
        inFlight: null,
      },
    ]);
    expect(snapshot).toMatchObject({
      invocations: 1,
      errors: 0,
      recordsDelivered: 3,
      retries: 0,
      recordsFilteredOut: 0,
      recordsSentToDestination: 0,
      lastError: null,
    });
    // One invocation in the last ten seconds.
    expect(snapshot.invocationsPerSecond).toBeCloseTo(0.1);
    // The snapshot is plain data: JSON keeps all of it.
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
  });

  it('counts retries and keeps the last error while the batch is retried', async () => {
    const healthy = deferred<void>();
    let failing = true;
    const fake = fakeHost({
      respond: async () => {
        if (failing) throw new Error('store unavailable');
        healthy.resolve();
        return null;
      },
      retryDelayMs: () => 20,
    });
    const poller = start(fake.host);
    poller.enqueue(PARTITION, [message(0), message(1)], '2');
    await until(() => fake.invocations.length >= 2, 'a retry');

    const during = poller.snapshot();
    expect(during.partitions[0]?.inFlight).toMatchObject({
      firstOffset: 0,
      lastOffset: 1,
      lastError: 'store unavailable',
    });
    expect(during.partitions[0]?.inFlight?.attempts).toBeGreaterThanOrEqual(1);
    expect(during.retries).toBeGreaterThanOrEqual(1);
    expect(during.lastError?.message).toBe('store unavailable');

    failing = false;
    await within(healthy.promise, 2_000, 'the batch succeeding');
    await until(() => partitionOf(poller).committed === 2, 'the commit');
    const after = poller.snapshot();
    expect(after.partitions[0]?.inFlight).toBeNull();
    // The last error stays, with when it happened: the page shows it as past.
    expect(after.lastError?.message).toBe('store unavailable');
    expect(after.errors).toBe(after.invocations - 1);
  });

  it('counts the records no filter matched and those sent to the on-failure destination', async () => {
    const mapping = testMapping({
      filter: compileFilters([JSON.stringify({ value: { kind: ['keep'] } })]),
      errorHandling: {
        provisioned: true,
        maxRetries: 0,
        onFailure: { kind: 'kafka', topic: 'notifications.dlq' },
      },
    });
    const fake = fakeHost({
      mapping,
      respond: () => {
        throw new Error('poison');
      },
    });
    const poller = start(fake.host);
    const keep = { value: Buffer.from(JSON.stringify({ kind: 'keep' })) };
    const drop = { value: Buffer.from(JSON.stringify({ kind: 'drop' })) };
    poller.enqueue(PARTITION, [message(0, drop), message(1, keep), message(2, drop)], '3');
    await until(() => partitionOf(poller).committed === 3, 'the commit past the batch');

    expect(poller.snapshot()).toMatchObject({
      invocations: 1,
      errors: 1,
      recordsFilteredOut: 2,
      recordsSentToDestination: 1,
    });
    expect(fake.givenUp[0]?.records[0]?.value).toBe(b64({ kind: 'keep' }));
  });
});

describe('KafkaEventSource.snapshot', () => {
  it("reports the mapping's settings as AWS names them, and no partition before it joins", () => {
    const mapping = testMapping({
      batchSize: 50,
      windowMs: 500,
      startingPosition: 'LATEST',
      filterPatterns: ['{"value":{"kind":["keep"]}}'],
      pollers: { min: 1, max: 3 },
      errorHandling: {
        provisioned: true,
        maxRetries: 3,
        bisect: true,
        onFailure: { kind: 'kafka', topic: 'notifications.dlq' },
      },
    });
    const source = new KafkaEventSource({
      mapping,
      // Never used before start.
      kafka: {} as never,
      bootstrapServers: ['127.0.0.1:9092'],
      invoke: async () => null,
      destination: { send: async () => undefined, close: async () => undefined },
      retryDelayMs: () => 1,
      log: silent,
    });
    expect(source.snapshot()).toMatchObject({
      functionKey: 'consumer',
      topic: 'notifications',
      groupId: 'test-group',
      batchSize: 50,
      batchingWindowMs: 500,
      startingPosition: 'LATEST',
      filters: ['{"value":{"kind":["keep"]}}'],
      mode: 'provisioned',
      provisionedPollers: { min: 1, max: 3 },
      maximumRetryAttempts: 3,
      bisectBatchOnFunctionError: true,
      reportBatchItemFailures: false,
      onFailure: 'kafka://notifications.dlq',
      status: 'connecting',
      pollers: [{ memberId: null, assigned: [], partitions: [], invocations: 0 }],
    });
  });
});

describe('serveState', () => {
  const serve = async (read: () => PluginState) => {
    const server = await serveState({ port: 0, read, log: silent });
    if (!server) throw new Error('not served');
    servers.push(server);
    const { address, port } = server.address() as AddressInfo;
    return { address, base: `http://127.0.0.1:${port}` };
  };

  it('answers GET /state with the snapshot as JSON, on the loopback interface only', async () => {
    let reads = 0;
    const { address, base } = await serve(() => {
      reads += 1;
      return stateOf([], 1_764_000_000_000 + reads);
    });
    expect(address).toBe('127.0.0.1');
    const response = await fetch(`${base}/state`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ version: 1, at: 1_764_000_000_001, mappings: [] });
    // Read anew for each request.
    expect(((await (await fetch(`${base}/`)).json()) as PluginState).at).toBe(1_764_000_000_002);
  });

  it.each([
    ['POST', '/state', 405],
    ['DELETE', '/state', 405],
    ['GET', '/mappings', 404],
  ])('refuses %s %s with %i', async (method, path, status) => {
    const { base } = await serve(() => stateOf([]));
    const response = await fetch(`${base}${path}`, { method });
    expect(response.status).toBe(status);
    expect(await response.json()).toHaveProperty('error');
  });

  it('resolves undefined, and logs, when its port is taken', async () => {
    const first = await serveState({ port: 0, read: () => stateOf([]), log: silent });
    if (!first) throw new Error('not served');
    servers.push(first);
    const errors: string[] = [];
    const second = await serveState({
      port: (first.address() as AddressInfo).port,
      read: () => stateOf([]),
      log: { ...silent, error: (m) => errors.push(m) },
    });
    expect(second).toBeUndefined();
    expect(errors[0]).toMatch(/Kafka state not served on 127\.0\.0\.1:\d+/);
  });
});

describe('the state server under `sls offline start`', () => {
  // The plugin as serverless loads it, with a service that has no Kafka event: only its hooks
  // and the state server run. Real ports.
  const ServerlessOfflineKafka = require('../src/index.js') as new (
    serverless: unknown,
    options: Record<string, unknown>,
    utils: { log: typeof silent },
  ) => { hooks: Record<string, () => Promise<void>>; state(): PluginState };

  const pluginWith = (statePort: unknown) => {
    const logged: string[] = [];
    const log = { ...silent, error: (m: string) => logged.push(m) };
    const provider = { naming: {}, getStage: () => 'local', getRegion: () => 'us-east-1' };
    const plugin = new ServerlessOfflineKafka(
      {
        service: {
          custom: { 'serverless-offline-kafka': { statePort } },
          getAllFunctions: () => [],
        },
        getProvider: () => provider,
      },
      {},
      { log },
    );
    const startOffline = async () => {
      await plugin.hooks['offline:start:init']?.();
      await plugin.hooks['after:offline:start:init']?.();
    };
    const stop = () => plugin.hooks['before:offline:start:end']?.();
    return { plugin, logged, startOffline, stop };
  };

  it('starts after serverless-offline listens on its own ports', () => {
    const { plugin } = pluginWith(0);
    expect(Object.keys(plugin.hooks)).toContain('after:offline:start:init');
  });

  it('logs and carries on when its port is taken: the hooks resolve and the state is still read', async () => {
    const taken = await serveState({ port: 0, read: () => stateOf([]), log: silent });
    if (!taken) throw new Error('not served');
    servers.push(taken);
    const port = (taken.address() as AddressInfo).port;
    const { plugin, logged, startOffline, stop } = pluginWith(port);
    await expect(startOffline()).resolves.toBeUndefined();
    expect(logged).toEqual([
      expect.stringMatching(new RegExp(`^Kafka state not served on 127\\.0\\.0\\.1:${port}: `)),
    ]);
    expect(plugin.state()).toMatchObject({ version: 1, mappings: [] });
    // The port's owner still answers, not the plugin.
    expect((await fetch(`http://127.0.0.1:${port}/state`)).status).toBe(200);
    await stop();
  });

  it.each([[65_536], [-1], ['next'], [1.5]])(
    'logs a statePort of %j that is not a port, and carries on',
    async (statePort) => {
      const { logged, startOffline, stop } = pluginWith(statePort);
      await expect(startOffline()).resolves.toBeUndefined();
      expect(logged).toEqual([expect.stringMatching(/^Kafka state not served: statePort must be/)]);
      await stop();
    },
  );
});
