/**
 * The local Kafka, by hand: `tsx scripts/kafka.ts install|start|stop|status|topics`
 * (`npm run kafka:start`, ...). `start` also creates the topics. With `LOCAL_KAFKA_BROKERS=3`
 * there are three nodes, and one node at a time can be stopped, killed and started again:
 *
 *   npm run kafka:status [-- --json]
 *   npm run kafka:stop -- --node 2 [--kill]
 *   npm run kafka:start -- --node 2
 */
import { parseArgs } from 'node:util';
import { config } from '../shared/config.js';
import type { ClusterStatus } from '../shared/kafka/cluster-status.js';
import {
  addressesOf,
  brokerStatus,
  ensureBroker,
  installKafkaJars,
  localKafka,
  startNode,
  stopBroker,
  stopNode,
} from './lib/broker.js';
import { createTopics } from './lib/topics.js';

const USAGE =
  'usage: tsx scripts/kafka.ts install | start [--node N] | stop [--node N [--kill]] | status [--json] | topics';

/** The status as a person reads it: one line per node, one per partition. */
const render = (status: ClusterStatus): string => {
  const table = (rows: string[][]) => {
    const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => r[c]?.length ?? 0))) ?? [];
    return rows.map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  };
  const list = (ids: readonly number[]) => (ids.length ? ids.join(',') : '-');
  const nodes = table([
    ['node', 'address', 'pid', 'state', 'controller'],
    ...status.nodes.map((n) => [
      String(n.id),
      n.address,
      n.pid === null ? '-' : String(n.pid),
      n.up ? 'up' : 'down',
      n.controller ? 'active' : n.voter ? 'voter' : '?',
    ]),
  ]);
  const partitions = table([
    ['topic', 'partition', 'leader', 'replicas', 'in-sync'],
    ...status.partitions.map((p) => [
      p.topic,
      String(p.partition),
      p.leader === null ? 'none' : String(p.leader),
      list(p.replicas),
      list(p.isr),
    ]),
  ]);
  const noController = status.nodes.some((n) => n.up) && !status.nodes.some((n) => n.controller);
  return [
    ...nodes,
    ...(noController ? ['(no active controller: fewer than a majority of the nodes are up)'] : []),
    '',
    ...(status.partitions.length
      ? partitions
      : ['(no partitions: no topic yet (npm run topics:create), or no node answers)']),
  ].join('\n');
};

const main = async (args: string[]): Promise<void> => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      node: { type: 'string' },
      kill: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const settings = config();
  const configured = settings.kafka.brokers;
  const cluster = localKafka(settings.localKafkaNodes);
  const node = values.node === undefined ? undefined : Number(values.node);
  if (node !== undefined && !cluster.nodes.some((n) => n.id === node)) {
    throw new Error(
      `--node expects one of ${cluster.nodes.map((n) => n.id).join(', ')} (LOCAL_KAFKA_BROKERS=${cluster.nodes.length}); received ${values.node}`,
    );
  }
  if (configured && (node !== undefined || positionals[0] === 'stop')) {
    throw new Error(
      'KAFKA_BROKERS names a cluster this project did not start: nothing to stop or start',
    );
  }
  switch (positionals[0]) {
    case 'install':
      await installKafkaJars();
      return;
    case 'start': {
      if (node !== undefined) {
        await startNode(cluster, node);
        return;
      }
      const broker = await ensureBroker(configured, settings.localKafkaNodes);
      await createTopics(broker.brokers);
      return;
    }
    case 'stop':
      if (node !== undefined) await stopNode(cluster, node, { kill: values.kill });
      else await stopBroker(cluster);
      return;
    case 'status': {
      const { notifications, deadLetter } = settings.topics;
      const status = await brokerStatus(cluster, configured, [notifications, deadLetter]);
      process.stdout.write(
        values.json ? `${JSON.stringify(status, null, 2)}\n` : `${render(status)}\n`,
      );
      return;
    }
    case 'topics':
      await createTopics(configured ?? addressesOf(cluster));
      return;
    default:
      throw new Error(USAGE);
  }
};

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`[kafka] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
