import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite, storeAnswers } from '../../scripts/lib/dynalite.js';
import { PROXIED_LISTENER } from '../../scripts/lib/toxiproxy.js';
import { createTopic } from '../helpers/kafka.js';
import { testKafka } from '../helpers/test-broker.js';
import { startToxiproxy, type ToxicProxy, type ToxiproxyServer } from '../helpers/toxiproxy.js';

/**
 * The fault-injection harness itself, on the real broker and a real dynalite: a client given the
 * proxied address goes through the proxy for every request, and each fault does what it says.
 */

let toxiproxy: ToxiproxyServer;
let broker: ToxicProxy;

/** A client that knows only the proxy's address, failing fast. */
const proxiedKafka = () =>
  new Kafka({
    clientId: 'toxiproxy-test',
    brokers: [broker.listen],
    connectionTimeout: 500,
    requestTimeout: 1_500,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });

beforeAll(async () => {
  toxiproxy = await startToxiproxy();
  broker = await toxiproxy.proxyBroker();
});

afterAll(async () => {
  await toxiproxy?.stop();
});

describe('a proxy in front of the broker', () => {
  it('is the address the broker advertises to clients that come through it', async () => {
    const admin = proxiedKafka().admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((b) => `${b.host}:${b.port}`)).toEqual([
        PROXIED_LISTENER.advertised,
      ]);
    } finally {
      await admin.disconnect();
    }
  });

  it('cuts every request when down, and lets them through again when up', async () => {
    const setup = testKafka().admin();
    await setup.connect();
    const topic = await createTopic(setup, { partitions: 1, prefix: 'toxiproxy' });
    await setup.disconnect();
    const producer = proxiedKafka().producer({ retry: { retries: 0 } });
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ value: 'before' }] });
      await broker.down();
      await expect(producer.send({ topic, messages: [{ value: 'during' }] })).rejects.toThrow();
      await broker.up();
      await expect
        .poll(
          () =>
            producer.send({ topic, messages: [{ value: 'after' }] }).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true);
    } finally {
      await broker.heal();
      await producer.disconnect();
    }
  });

  it('delays each exchange by at least the latency it is given', async () => {
    const admin = proxiedKafka().admin();
    await admin.connect();
    try {
      const toxics = await broker.latency(300);
      const started = performance.now();
      await admin.describeCluster();
      // A lower bound the toxic guarantees (request and response each wait 300 ms).
      expect(performance.now() - started).toBeGreaterThanOrEqual(590);
      for (const name of toxics) await broker.removeToxic(name);
    } finally {
      await broker.heal();
      await admin.disconnect();
    }
  });

  it('holds requests in a black hole until they time out', async () => {
    const admin = proxiedKafka().admin();
    await admin.connect();
    try {
      await broker.blackhole();
      await expect(admin.describeCluster()).rejects.toThrow(/timed out|Connection/i);
    } finally {
      await broker.heal();
      await admin.disconnect();
    }
  });

  it('resets connections with reset_peer', async () => {
    await broker.resetPeer();
    const admin = proxiedKafka().admin();
    try {
      await expect(admin.connect()).rejects.toThrow();
    } finally {
      await broker.heal();
      await admin.disconnect();
    }
  });
});

describe('a proxy in front of the store', () => {
  it('forwards DynamoDB calls, and refuses them when down', async () => {
    const store = await startDynalite({ port: 0 });
    const proxy = await toxiproxy.proxyTo('dynamodb', new URL(store.endpoint).host);
    const proxied = `http://${proxy.listen}`;
    try {
      expect(await storeAnswers(proxied)).toBe(true);
      await proxy.down();
      expect(await storeAnswers(proxied)).toBe(false);
      await proxy.up();
      expect(await storeAnswers(proxied)).toBe(true);
      await proxy.bandwidth(1);
      expect(await toxiproxy.request('GET', `/proxies/${proxy.name}/toxics`)).toHaveLength(1);
      await toxiproxy.reset();
      expect(await toxiproxy.request('GET', `/proxies/${proxy.name}/toxics`)).toHaveLength(0);
    } finally {
      await store.close();
    }
  });
});
