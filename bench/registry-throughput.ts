import type { Kafka } from 'kafkajs';
import { type RunningRegistry, startApicurio } from '../scripts/lib/registries.js';
import type { Notification } from '../tests/fixtures/registry-service/schemas.js';
import { createTopic, deleteTopics, kafkaClient, localBrokers } from '../tests/helpers/kafka.js';
import { confluentSerializers } from '../tests/helpers/schema-registry.js';
import { freePort } from '../tests/helpers/toxiproxy.js';
import { type Run, runOurs } from './emulator-throughput.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow } from './lib/results.js';
import { median } from './lib/stats.js';

/**
 * Emulator delivery throughput with a schema registry: the same notifications written three
 * ways into three topics (3 partitions each): Avro and Protobuf by Confluent's serializers
 * against a real Apicurio Registry, and plain JSON text without a registry. Each is delivered by
 * a fresh `sls offline start` of bench/fixtures/noop-service in provisioned mode at batch size
 * 100; the registry topics through `SchemaRegistryConfig` (record format JSON, VALUE validated),
 * so the plugin fetches each schema once and deserializes every record to JSON. Timed as
 * emulator-throughput times its runs: from the first invocation's start to the group's committed
 * offsets reaching the record count.
 */

export const GOAL_RATIO = 0.7;
const BATCH_SIZE = 100;
const PRODUCE_BATCH = 500;

type Sizes = { readonly count: number; readonly rounds: number };

const notificationOf = (i: number): Notification => ({
  toID: ['emma', 'bruno', 'rick', 'lena'][i % 4] ?? 'emma',
  message: `notification ${i}: ${'x'.repeat(120)}`,
  n: i,
});

/** Writes `count` records to `topic`, each value made by `value(i)`, keyed by recipient. */
const fill = async (
  kafka: Kafka,
  topic: string,
  count: number,
  value: (i: number) => Promise<Buffer> | Buffer,
) => {
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let from = 0; from < count; from += PRODUCE_BATCH) {
      const messages = [];
      for (let i = from; i < Math.min(count, from + PRODUCE_BATCH); i++)
        messages.push({ key: notificationOf(i).toID, value: await value(i) });
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
};

const setup = async ({ count }: Sizes) => {
  const brokers = await localBrokers();
  const kafka = kafkaClient(brokers, 'bench');
  const admin = kafka.admin();
  await admin.connect();
  let registry: RunningRegistry | undefined;
  const topics: string[] = [];
  const close = async () => {
    await deleteTopics(admin, topics);
    await admin.disconnect();
    await registry?.stop();
  };
  try {
    registry = await startApicurio({ port: await freePort(), managementPort: await freePort() });
    const serializers = await confluentSerializers(registry.url);
    const plain = await createTopic(admin, { prefix: 'bench-registry-plain' });
    const avro = await createTopic(admin, { prefix: 'bench-registry-avro' });
    const protobuf = await createTopic(admin, { prefix: 'bench-registry-protobuf' });
    topics.push(plain, avro, protobuf);
    await serializers.registerAvro(avro);
    await serializers.registerProtobuf(protobuf);
    say(
      `registry throughput: ${count.toLocaleString('en-US')} records each into ${topics.join(', ')}`,
    );
    await fill(kafka, plain, count, (i) => Buffer.from(JSON.stringify(notificationOf(i))));
    await fill(kafka, avro, count, (i) => serializers.avro(avro, notificationOf(i)));
    await fill(kafka, protobuf, count, (i) => serializers.protobuf(protobuf, notificationOf(i)));
    return { brokers, admin, registryUrl: registry.url, plain, avro, protobuf, close };
  } catch (error) {
    await close();
    throw error;
  }
};

type Bench = Awaited<ReturnType<typeof setup>>;

const drive = async (
  { brokers, admin, registryUrl, plain, avro, protobuf }: Bench,
  { count, rounds }: Sizes,
) => {
  /** A run that committed records without delivering them (rejected, say) measures nothing. */
  const delivering = async (topic: string, env: Record<string, string>) => {
    const run = await runOurs(admin, brokers, topic, count, BATCH_SIZE, env);
    if (run.delivered !== count)
      throw new Error(`${topic}: ${run.delivered} of ${count} records reached the function`);
    return run;
  };
  return interleave(
    rounds,
    {
      plain: () => delivering(plain, { BENCH_PROVISIONED: 'true' }),
      avro: () => delivering(avro, { BENCH_REGISTRY_URL: registryUrl }),
      protobuf: () => delivering(protobuf, { BENCH_REGISTRY_URL: registryUrl }),
    },
    (round, r) =>
      say(
        `registry throughput round ${round + 1}/${rounds}: plain JSON ${r.plain.perSecond.toFixed(0)}/s, Avro ${r.avro.perSecond.toFixed(0)}/s, Protobuf ${r.protobuf.perSecond.toFixed(0)}/s (batch ${BATCH_SIZE})`,
      ),
  );
};

const perSecond = (runs: readonly Run[]) => runs.map((r) => r.perSecond);

const report = (
  driven: Awaited<ReturnType<typeof drive>>,
  { plain }: Bench,
  { count, rounds }: Sizes,
) => ({
  id: 'registry-throughput',
  title: 'Emulator delivery throughput with a schema registry',
  rows: (['avro', 'protobuf'] as const).map((format) =>
    compareRow({
      figure: 'emulator delivery throughput, schema registry',
      metric: `records/s, batch size ${BATCH_SIZE}, ${format === 'avro' ? 'Avro' : 'Protobuf'} values, JSON record format`,
      oursLabel: `sls offline + serverless-offline-kafka, SchemaRegistryConfig (Apicurio Registry), ${format === 'avro' ? 'Avro' : 'Protobuf'} from Confluent's serializer`,
      baselineLabel:
        'the same notifications as plain JSON values, no registry (provisioned mode too)',
      ours: perSecond(driven[format]),
      baseline: perSecond(driven.plain),
      goal: { atLeast: GOAL_RATIO },
    }),
  ),
  facts: [
    `${count.toLocaleString('en-US')} notifications (a recipient key, a 140-character message, a number) per topic, 3 partitions; ${plain} holds them as JSON text. ${rounds} round(s), each a fresh sls offline start (and group) per topic, in rotating order.`,
    `No-op function, batching window 0, provisioned mode (MinimumPollers 1) for all three; the registry mappings deserialize each value to JSON (EventRecordFormat JSON, VALUE validated), each schema fetched once. Medians: plain ${median(perSecond(driven.plain)).toFixed(0)}/s, Avro ${median(perSecond(driven.avro)).toFixed(0)}/s, Protobuf ${median(perSecond(driven.protobuf)).toFixed(0)}/s.`,
  ],
});

export const measureRegistryThroughput = defineFigure({
  sizes: ({ quick }): Sizes => ({ count: quick ? 5_000 : 100_000, rounds: quick ? 1 : 5 }),
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureRegistryThroughput);
