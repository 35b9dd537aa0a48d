import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Compression,
  type JavaProducer,
  type JavaRecord,
  startJavaProducer,
} from '../helpers/java-producer.js';
import { unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The offline Kafka event source against records written by Kafka's own Java producer (not
 * kafkajs): batches compressed with every codec Java offers, headers with any name and null
 * values, committed and aborted transactions with their control records. A real
 * `sls offline start` of tests/fixtures/emulator-service/serverless.producers.yml.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/emulator-service');
const PARTITIONS = 3;
const CODECS: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Headers as a producer may write them: repeated names, names of Object.prototype, nulls. */
const HEADERS: JavaRecord['headers'] = [
  ['trace', 'a'],
  ['__proto__', 'p'],
  ['constructor', 'c'],
  ['trace', 'b'],
  ['toString', 'ë'],
  ['nothing', null],
  ['', 'no name'],
  ['bin', Buffer.from([0xff, 0x00, 0x80])],
];
/** The same headers as AWS's event gives them, as JSON text (record order, signed bytes). */
const LAMBDA_HEADERS_JSON =
  '[{"trace":[97]},{"__proto__":[112]},{"constructor":[99]},{"trace":[98]},' +
  '{"toString":[-61,-85]},{},{"":[110,111,32,110,97,109,101]},{"bin":[-1,0,-128]}]';

interface LambdaRecord {
  topic: string;
  partition: number;
  offset: number;
  key?: string;
  value: string | null;
  headers: Record<string, number[]>[];
}
interface Delivery {
  fn: string;
  event: { records: Record<string, LambdaRecord[]> };
}

const text = (r: LambdaRecord) =>
  r.value === null ? null : Buffer.from(r.value, 'base64').toString('utf8');
const keyText = (r: LambdaRecord) =>
  r.key === undefined ? null : Buffer.from(r.key, 'base64').toString('utf8');

/** A value that compresses into several blocks (lz4's 64 KB, snappy-java's 32 KB). */
const bigValue = (codec: string) =>
  `${codec}:big:${Array.from({ length: 20_000 }, (_, i) => `line ${i % 97} of ${codec}`).join('\n')}`;

describe('serverless-offline-kafka with records from the Java producer', () => {
  const kafka = testKafka('emulator-producers-e2e');
  let admin: Admin;
  let offline: Offline;
  const producers: JavaProducer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'emulator-producers-'));
  const recordFile = join(dir, 'deliveries.jsonl');
  const topics = { codecs: unique('e2e-codecs'), transactional: unique('e2e-transactional') };
  const groupPrefix = unique('e2e-producers');

  const delivered = (fn: string): LambdaRecord[] =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Delivery)
          .filter((d) => d.fn === `emulator-producers-test-${fn}`)
          .flatMap((d) => Object.values(d.event.records).flat())
      : [];

  /** What a plain kafkajs consumer (without the plugin's decoder) says when it reads `topic`. */
  const kafkajsAloneFails = async (topic: string): Promise<string> => {
    const consumer = kafka.consumer({ groupId: unique('kafkajs-alone'), retry: { retries: 0 } });
    await consumer.connect();
    try {
      const crashed = new Promise<string>((resolve) => {
        consumer.on(consumer.events.CRASH, ({ payload }) => resolve(payload.error.message));
      });
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async () => undefined });
      return await crashed;
    } finally {
      await consumer.disconnect();
    }
  };

  const javaProducer = async (compression: Compression, transactionalId?: string) => {
    const producer = await startJavaProducer({
      brokers: brokers(),
      compression,
      ...(transactionalId ? { transactionalId } : {}),
    });
    producers.push(producer);
    return producer;
  };

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: PARTITIONS })),
    });
    offline = await startOffline(
      FIXTURE,
      {
        RECORD_FILE: recordFile,
        GROUP_PREFIX: groupPrefix,
        TOPIC_CODECS: topics.codecs,
        TOPIC_TRANSACTIONAL: topics.transactional,
      },
      {
        args: ['--config', 'serverless.producers.yml'],
        ready: /Kafka transactional: joined group \S+, partitions \[0,1,2\]/,
      },
    );
  });

  afterAll(async () => {
    await Promise.all(producers.map((p) => p.close()));
    await offline?.stop();
    await admin?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers gzip, snappy, lz4 and zstd batches from Java, every record, key and header as produced', async () => {
    const perCodec = 30;
    const expected = new Map<string, { key: string | null; partition: number }>();
    await Promise.all(
      CODECS.map(async (codec) => {
        const producer = await javaProducer(codec);
        for (let i = 0; i < perCodec; i++) {
          const value = i === 0 ? bigValue(codec) : `${codec}-${i}`;
          const key = i % 5 === 0 ? null : `${codec}-key-${i % 4}`;
          const partition = i % PARTITIONS;
          expected.set(value, { key, partition });
          await producer.send({ topic: topics.codecs, partition, key, value, headers: HEADERS });
        }
        // One flush: each partition's records go out as one compressed batch.
        expect(await producer.flush()).toHaveLength(perCodec);
      }),
    );

    await until(
      () => delivered('codecs').length >= expected.size,
      60_000,
      `${expected.size} records`,
    );
    const records = delivered('codecs');
    expect(records).toHaveLength(expected.size);
    for (const record of records) {
      const value = text(record) ?? '';
      expect(expected.get(value), value.slice(0, 40)).toEqual({
        key: keyText(record),
        partition: record.partition,
      });
      expect(JSON.stringify(record.headers)).toBe(LAMBDA_HEADERS_JSON);
    }
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size).toBe(offsets.length);
    }
    expect(offline.output()).not.toMatch(/cannot be decoded/);
    // The topic really holds what kafkajs alone cannot read (it decodes gzip only).
    expect(await kafkajsAloneFails(topics.codecs)).toMatch(/compression not implemented/i);
  });

  it('delivers committed transactions only: aborted records and control records never appear', async () => {
    const topic = topics.transactional;
    const tx = await javaProducer('lz4', unique('e2e-tx'));
    const plain = await javaProducer('none');
    const sendAll = async (values: readonly string[]) => {
      for (const value of values) await tx.send({ topic, partition: 0, key: value, value });
    };
    await tx.begin();
    await sendAll(['committed-1', 'committed-2']);
    await tx.commit();
    await tx.begin();
    await sendAll(['aborted-1', 'aborted-2']);
    expect(await tx.flush()).toEqual(['0@3', '0@4']);
    await tx.abort();
    await tx.begin();
    await sendAll(['committed-3']);
    await tx.commit();
    await plain.send({ topic, partition: 0, value: 'plain' });
    expect(await plain.flush()).toEqual(['0@8']);

    await until(
      () => delivered('transactional').some((r) => text(r) === 'plain'),
      30_000,
      'the record after the transactions',
    );
    // 2 and 5 are the commit and abort markers, 7 the second commit's.
    expect(delivered('transactional').map((r) => [r.offset, text(r)])).toEqual([
      [0, 'committed-1'],
      [1, 'committed-2'],
      [6, 'committed-3'],
      [8, 'plain'],
    ]);
    const groupId = `${groupPrefix}-transactional`;
    await until(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return offsets?.partitions.find((p) => p.partition === 0)?.offset === '9';
      },
      20_000,
      'the commit past the last record',
    );
  });

  it('holds back the records of an open transaction until it commits', async () => {
    const topic = topics.transactional;
    const tx = await javaProducer('zstd', unique('e2e-tx-open'));
    const plain = await javaProducer('none');
    await tx.begin();
    await tx.send({ topic, partition: 1, value: 'in-flight' });
    expect(await tx.flush()).toHaveLength(1);
    // Behind it on its partition, a record outside the transaction waits too (read committed).
    await plain.send({ topic, partition: 1, value: 'behind' });
    // On another partition, a record shows that the poller fetched meanwhile.
    await plain.send({ topic, partition: 2, value: 'beside' });
    await plain.flush();
    await until(
      () => delivered('transactional').some((r) => text(r) === 'beside'),
      30_000,
      'the record beside the transaction',
    );
    const partition1 = () =>
      delivered('transactional')
        .filter((r) => r.partition === 1)
        .map(text);
    expect(partition1()).toEqual([]);
    await tx.commit();
    await until(() => partition1().length >= 2, 30_000, 'the transaction, once committed');
    expect(partition1()).toEqual(['in-flight', 'behind']);
  });
});
