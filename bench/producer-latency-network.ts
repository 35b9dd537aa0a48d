import { connect } from 'node:net';
import { PROXIED_LISTENER, TOXIPROXY_VERSION } from '../scripts/lib/toxiproxy.js';
import { startToxiproxy } from '../tests/helpers/toxiproxy.js';
import { runFigure } from './lib/figure.js';
import { defineProducerLatency } from './lib/producer-latency.js';
import { fmt } from './lib/results.js';
import { median } from './lib/stats.js';

/**
 * Producer warm latency against a realistic network. On loopback a raw send takes 0.2-0.4 ms,
 * where MSK answers in milliseconds, so every microsecond the handler adds weighs several times
 * what it would on AWS. Here Toxiproxy (a TCP proxy that injects latency, scripts/lib/toxiproxy.ts)
 * sits between both measured clients and the broker and delays what the broker sends back by
 * 1 ms: each request's round trip grows by about 1 ms. The clients are given the proxy's address
 * only, and the broker's PROXIED listener advertises that address, so every request of theirs
 * crosses the proxy (none bypasses it through an advertised loopback address).
 */

/** Added to every chunk the broker sends back; toxiproxy's latency is whole milliseconds. */
export const ADDED_LATENCY_MS = 1;

/**
 * The round trip of a Kafka request on one connection: ApiVersions v0 (the smallest request
 * every broker answers), sent `count` times one after another; the median in milliseconds.
 */
export const kafkaRoundTripMs = (address: string, count = 50): Promise<number> =>
  new Promise((resolve, reject) => {
    const [host = '127.0.0.1', port = '0'] = address.split(':');
    const clientId = Buffer.from('bench-ping');
    const request = (correlationId: number) => {
      const header = Buffer.alloc(2 + 2 + 4 + 2);
      header.writeInt16BE(18, 0); // ApiVersions
      header.writeInt16BE(0, 2); // v0: no request body
      header.writeInt32BE(correlationId, 4);
      header.writeInt16BE(clientId.length, 8);
      const size = Buffer.alloc(4);
      size.writeInt32BE(header.length + clientId.length);
      return Buffer.concat([size, header, clientId]);
    };
    const times: number[] = [];
    let pending = Buffer.alloc(0);
    let sentAt = 0;
    const socket = connect({ host, port: Number(port), noDelay: true });
    const send = () => {
      sentAt = performance.now();
      socket.write(request(times.length));
    };
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer from ${address}`)));
    socket.on('error', reject);
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 4 || pending.length < 4 + pending.readInt32BE(0)) return;
      pending = pending.subarray(4 + pending.readInt32BE(0));
      times.push(performance.now() - sentAt);
      if (times.length < count) return send();
      socket.end();
      resolve(median(times.slice(5)));
    });
  });

export const measureProducerLatencyNetwork = defineProducerLatency({
  id: 'producer-latency-network',
  title: 'Producer warm latency, 1 ms network',
  figure: 'producer warm latency, 1 ms RTT',
  route: async (brokers) => {
    const toxiproxy = await startToxiproxy();
    try {
      const proxy = await toxiproxy.proxyBroker();
      await proxy.addToxic('latency', { latency: ADDED_LATENCY_MS }, { stream: 'downstream' });
      const direct = await kafkaRoundTripMs(brokers[0] ?? '');
      const proxied = await kafkaRoundTripMs(proxy.listen);
      return {
        brokers: [proxy.listen],
        facts: [
          `Toxiproxy ${TOXIPROXY_VERSION} listens on ${proxy.listen} and forwards to the broker's PROXIED listener (${PROXIED_LISTENER.upstream}), which advertises ${PROXIED_LISTENER.advertised}; both clients are given ${proxy.listen} only. A latency toxic delays what the broker sends back by ${ADDED_LATENCY_MS} ms (nothing upstream).`,
          `Round trip of a Kafka request (ApiVersions, median of 45 on one connection): ${fmt(direct)} ms direct, ${fmt(proxied)} ms through the proxy.`,
        ],
        close: () => toxiproxy.stop(),
      };
    } catch (error) {
      await toxiproxy.stop();
      throw error;
    }
  },
});

await runFigure(import.meta.url, measureProducerLatencyNetwork);
