import { spawnSync } from 'node:child_process';
import { KAFKA_LIBS, KAFKA_VERSION } from '../scripts/lib/broker.js';
import { createTopic, deleteTopics, kafkaClient, localBrokers } from '../tests/helpers/kafka.js';
import { defineFigure, runFigure, say } from './lib/figure.js';
import { type Row, WORK_DIR } from './lib/results.js';
import { summarize } from './lib/stats.js';

/**
 * The machine's ceiling, for reference: Kafka's own producer performance tool (the Java client,
 * `org.apache.kafka.tools.ProducerPerformance` from the kafka-tools jar the broker's classpath
 * holds) against the same broker, with 200-byte records (our notifications' size), acks from all
 * replicas and idempotence, unthrottled.
 */

export const RECORD_BYTES = 200;
const TOOL = 'org.apache.kafka.tools.ProducerPerformance';

export interface PerfSummary {
  readonly recordsPerSecond: number;
  readonly mbPerSecond: number;
  readonly avgLatencyMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * The tool's last line: `500000 records sent, 123456.7 records/sec (23.55 MB/sec), 45.67 ms avg
 * latency, 300.00 ms max latency, 40 ms 50th, 100 ms 95th, 150 ms 99th, 200 ms 99.9th.`
 */
export const parseSummary = (output: string): PerfSummary => {
  const match =
    /records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/.exec(
      output,
    );
  if (!match) throw new Error(`no summary line in ProducerPerformance's output:\n${output}`);
  const [, rps = '', mb = '', avg = '', p50 = '', p99 = ''] = match;
  return {
    recordsPerSecond: Number(rps),
    mbPerSecond: Number(mb),
    avgLatencyMs: Number(avg),
    p50Ms: Number(p50),
    p99Ms: Number(p99),
  };
};

/** The command line, as the report prints it. */
export const toolArgs = (topic: string, records: number, brokers: readonly string[]) => [
  '-Xmx256m',
  `-Djava.io.tmpdir=${WORK_DIR}`,
  '-cp',
  `${KAFKA_LIBS}/*`,
  TOOL,
  '--topic',
  topic,
  '--num-records',
  String(records),
  '--record-size',
  String(RECORD_BYTES),
  '--throughput',
  '-1',
  '--producer-props',
  `bootstrap.servers=${brokers.join(',')}`,
  'acks=all',
  'enable.idempotence=true',
];

interface Sizes {
  readonly records: number;
  readonly rounds: number;
}

/** A fresh topic on the broker. */
const setup = async () => {
  const brokers = await localBrokers();
  const admin = kafkaClient(brokers, 'bench').admin();
  await admin.connect();
  const topic = await createTopic(admin, { prefix: 'bench-ceiling' });
  return {
    brokers,
    topic,
    close: async () => {
      await deleteTopics(admin, [topic]);
      await admin.disconnect();
    },
  };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** The tool, `rounds` times in a row. */
const drive = async ({ brokers, topic }: Bench, { records, rounds }: Sizes) => {
  const runs: PerfSummary[] = [];
  for (let round = 0; round < rounds; round++) {
    const out = spawnSync('java', toolArgs(topic, records, brokers), {
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (out.status !== 0) throw new Error(`ProducerPerformance failed: ${out.stderr}`);
    const summary = parseSummary(out.stdout);
    runs.push(summary);
    say(
      `ceiling round ${round + 1}/${rounds}: ${summary.recordsPerSecond.toFixed(0)} records/s, p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms`,
    );
  }
  return runs;
};

const report = (runs: PerfSummary[], { brokers }: Bench, { records, rounds }: Sizes) => {
  const figure = 'ceiling (reference)';
  const oursLabel = `Kafka ${KAFKA_VERSION} ProducerPerformance (Java client)`;
  const rows: Row[] = [
    {
      figure,
      metric: `records/s (${RECORD_BYTES}-byte records)`,
      oursLabel,
      ours: summarize(runs.map((r) => r.recordsPerSecond)),
      status: 'info',
    },
    {
      figure,
      metric: 'record latency p50 (ms)',
      oursLabel,
      ours: summarize(runs.map((r) => r.p50Ms)),
      status: 'info',
    },
    {
      figure,
      metric: 'record latency p99 (ms)',
      oursLabel,
      ours: summarize(runs.map((r) => r.p99Ms)),
      status: 'info',
    },
  ];
  return {
    id: 'ceiling',
    title: "The machine's ceiling",
    rows,
    facts: [
      `${rounds} run(s) of \`java -cp '${KAFKA_LIBS.replace(/.*\/\.cache/, '.cache')}/*' ${TOOL} --topic <fresh topic, 3 partitions> --num-records ${records} --record-size ${RECORD_BYTES} --throughput -1 --producer-props bootstrap.servers=${brokers.join(',')} acks=all enable.idempotence=true\` (default batching: the Java client pipelines up to 5 requests per connection and lingers to fill batches, so its latencies are per record under full load, not per request).`,
    ],
  };
};

export const measureCeiling = defineFigure({
  sizes: ({ quick }): Sizes =>
    quick ? { records: 50_000, rounds: 1 } : { records: 500_000, rounds: 3 },
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureCeiling);
