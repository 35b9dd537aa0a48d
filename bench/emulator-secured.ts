import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { createTopic, kafkaClient, preload, unique } from '../tests/helpers/kafka.js';
import { startSecuredBroker, USERS } from '../tests/helpers/secured-broker.js';
import { type Run, runOurs } from './emulator-throughput.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow, WORK_DIR } from './lib/results.js';
import { median } from './lib/stats.js';

/**
 * Emulator delivery throughput on a secured cluster: the no-op service of
 * bench/emulator-throughput.ts under `sls offline start`, reading a topic through a broker's
 * SASL_SSL listener (SASL/SCRAM-SHA-512 over TLS, what an msk event with `saslScram512` does),
 * against the same service reading the same records through the same broker's plaintext
 * listener. The broker (tests/helpers/secured-broker.ts) is started here, with certificates
 * made for the run. Both paths are timed alike: from the start of the first invocation until
 * the group's committed offsets reach the record count.
 */

export const GOAL_RATIO = 0.8;
/** The broker's ports: plaintext here, SASL_SSL at + 2 (apart from the tests' 29092). */
const BASE_PORT = 29_292;
const BATCH_SIZE = 100;
const NOWHERE = '127.0.0.1:1';
/**
 * Reads of the whole topic through each listener before the measured rounds. A fresh broker
 * encrypts slowly until its JIT has compiled the TLS path: measured here, a raw kafkajs consumer
 * read 100,000 records through SASL_SSL at 0.45 of its plaintext rate on the first pass, 0.94
 * by the fourth. MSK's brokers are long-running JVMs.
 */
const WARM_UP_READS = 4;

/** Reads all `count` records of `topic` once with a raw kafkajs consumer group. */
const readAll = async (kafka: Kafka, topic: string, count: number): Promise<void> => {
  const consumer = kafka.consumer({ groupId: unique('bench-warm-up'), maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            seen += batch.messages.length;
            if (seen >= count) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
};
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-scram-AbCdEf';

type Sizes = { readonly count: number; readonly rounds: number };

const setup = async ({ count }: Sizes) => {
  const dir = join(WORK_DIR, `secured-broker-${process.pid}`);
  say('emulator on a secured cluster: starting a broker with a SASL_SSL listener');
  const broker = await startSecuredBroker(dir, BASE_PORT);
  const kafka = kafkaClient([broker.plaintext], 'bench');
  const admin = kafka.admin();
  const close = async () => {
    await admin.disconnect().catch(() => undefined);
    await broker.stop();
  };
  try {
    await admin.connect();
    const topic = await createTopic(admin, { prefix: 'bench-secured' });
    say(
      `emulator on a secured cluster: loading ${count.toLocaleString('en-US')} records into ${topic}`,
    );
    await preload(kafka, topic, count);
    const secretsFile = join(dir, 'kafka-secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ [SECRET_ARN]: USERS.scram512 }));
    say(
      `emulator on a secured cluster: warming the broker up (${WARM_UP_READS} reads through each listener)`,
    );
    const overTls = new Kafka({
      clientId: 'bench-warm-up',
      brokers: [broker.saslSsl],
      ssl: { ca: [broker.certificates.caPem] },
      sasl: { mechanism: 'scram-sha-512', ...USERS.scram512 },
      connectionTimeout: 10_000,
      logLevel: logLevel.NOTHING,
    });
    for (let i = 0; i < WARM_UP_READS; i++) {
      await readAll(overTls, topic, count);
      await readAll(kafka, topic, count);
    }
    const saslSslEnv = {
      BENCH_SASL_SSL_BROKER: broker.saslSsl,
      BENCH_SCRAM_SECRET: SECRET_ARN,
      BENCH_SECRETS_FILE: secretsFile,
      // An msk mapping trusts public CAs (no root CA secret on MSK): the run's CA this way.
      NODE_EXTRA_CA_CERTS: broker.certificates.caFile,
    };
    return { broker, admin, topic, saslSslEnv, close };
  } catch (error) {
    await close();
    throw error;
  }
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** Both listeners in interleaved rounds, each a fresh `sls offline start` and group. */
const drive = async ({ broker, admin, topic, saslSslEnv }: Bench, { count, rounds }: Sizes) => {
  const loadBefore = loadavg()[0] ?? 0;
  const runs = await interleave(
    rounds,
    {
      plaintext: () => runOurs(admin, [broker.plaintext], topic, count, BATCH_SIZE),
      // The plugin's brokers option unreachable: only the SASL_SSL listener can deliver.
      saslSsl: () => runOurs(admin, [NOWHERE], topic, count, BATCH_SIZE, saslSslEnv),
    },
    (round, r) =>
      say(
        `emulator on a secured cluster round ${round + 1}/${rounds}: SASL_SSL ${r.saslSsl.perSecond.toFixed(0)}/s, plaintext ${r.plaintext.perSecond.toFixed(0)}/s (load average ${(loadavg()[0] ?? 0).toFixed(1)})`,
      ),
  );
  return { ...runs, load: [loadBefore, loadavg()[0] ?? 0] as const };
};

type Driven = Awaited<ReturnType<typeof drive>>;

const perSecond = (runs: readonly Run[]) => runs.map((r) => r.perSecond);

const report = (
  { plaintext, saslSsl, load }: Driven,
  { topic }: Bench,
  { count, rounds }: Sizes,
) => ({
  id: 'emulator-secured',
  title: 'Emulator delivery throughput on a secured cluster',
  rows: [
    compareRow({
      figure: 'emulator delivery throughput, SASL_SSL',
      metric: `records/s, batch size ${BATCH_SIZE}, SASL/SCRAM-SHA-512 over TLS`,
      oursLabel: 'sls offline + serverless-offline-kafka through the SASL_SSL listener',
      baselineLabel: 'the same through the same broker’s plaintext listener',
      ours: perSecond(saslSsl),
      baseline: perSecond(plaintext),
      goal: { atLeast: GOAL_RATIO },
    }),
  ],
  facts: [
    `${count.toLocaleString('en-US')} records of 200-byte values pre-loaded into ${topic} (3 partitions) of a single-node Kafka with PLAINTEXT and SASL_SSL listeners (tests/helpers/secured-broker.ts: TLS 1.3, a 2048-bit RSA certificate made for the run); ${rounds} round(s), each a fresh sls offline start and group per listener, order alternating.`,
    `Both: the no-op service of bench/emulator-throughput.ts (an msk event, batch size ${BATCH_SIZE}, no batching window); SASL_SSL adds saslScram512 and the cluster in the plugin's clusters option, with the plugin's brokers option pointed nowhere, so that only that listener can deliver. Timed from the start of the first invocation to the committed offsets reaching the count (SASL_SSL: after the plugin's start-up check of the cluster). Invocations: SASL_SSL ${median(saslSsl.map((r) => r.invocations))}, plaintext ${median(plaintext.map((r) => r.invocations))} (medians).`,
    `Before the rounds, the topic is read ${WARM_UP_READS} times through each listener by a raw kafkajs consumer (not timed): a fresh broker encrypts slowly until its JIT has compiled the TLS path (a first read through SASL_SSL ran at 0.45 of plaintext's, the fourth at 0.94).`,
    `Load average (1 min) ${load[0].toFixed(1)} when the rounds began, ${load[1].toFixed(1)} when they ended.`,
  ],
});

export const measureEmulatorSecured = defineFigure({
  sizes: ({ quick }): Sizes => ({ count: quick ? 10_000 : 100_000, rounds: quick ? 1 : 7 }),
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureEmulatorSecured);
