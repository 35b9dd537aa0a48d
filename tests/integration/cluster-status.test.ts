import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterStatus, describeQuorum } from '../../shared/kafka/cluster-status.js';
import { createTopic, deleteTopics } from '../helpers/kafka.js';
import { brokers, testKafka } from '../helpers/test-broker.js';

/**
 * shared/kafka/cluster-status.ts against the run's real broker(s): the hand-written DescribeQuorum
 * and ApiVersions requests, and the partitions of a topic. The three-node view (a node down, the
 * controller moving) is exercised by tests/faults/cluster.test.ts, which waits on it.
 */

describe('clusterStatus', () => {
  const kafka = testKafka('cluster-status');
  const admin = kafka.admin();
  let topic: string;

  beforeAll(async () => {
    await admin.connect();
    topic = await createTopic(admin, { prefix: 'status' });
  });

  afterAll(async () => {
    await deleteTopics(admin, [topic]);
    await admin.disconnect();
  });

  it('names the active controller among the quorum voters, as the broker answers DescribeQuorum', async () => {
    const [address = ''] = brokers();
    const quorum = await describeQuorum(address, 3_000);
    const { brokers: live } = await admin.describeCluster();
    expect(quorum.voters.length).toBeGreaterThan(0);
    expect(quorum.leader).not.toBeNull();
    expect(quorum.voters).toContain(quorum.leader);
    expect(live.map((b) => b.nodeId)).toContain(quorum.leader);
  });

  it("lists each node's state and each partition's leader, replicas and in-sync replicas", async () => {
    const { brokers: live } = await admin.describeCluster();
    const status = await clusterStatus({
      nodes: [
        ...live.map((b) => ({ id: b.nodeId, address: `${b.host}:${b.port}`, pid: 42 })),
        // A node the caller expects but that does not answer (nothing listens on port 1).
        { id: 99, address: '127.0.0.1:1' },
      ],
      topics: [topic, 'no-such-topic'],
      admin,
    });
    const answering = status.nodes.filter((n) => n.up);
    expect(answering.map((n) => n.id)).toEqual(live.map((b) => b.nodeId));
    expect(status.nodes.filter((n) => n.controller)).toHaveLength(1);
    expect(status.nodes.find((n) => n.id === 99)).toEqual({
      id: 99,
      address: '127.0.0.1:1',
      pid: null,
      up: false,
      controller: false,
      voter: false,
    });
    expect(status.nodes[0]?.pid).toBe(42);
    expect(status.partitions.map((p) => [p.topic, p.partition])).toEqual([
      [topic, 0],
      [topic, 1],
      [topic, 2],
    ]);
    for (const p of status.partitions) {
      expect(p.leader).not.toBeNull();
      expect(p.replicas).toContain(p.leader);
      expect(p.isr).toContain(p.leader);
    }
    // What `npm run kafka:status -- --json` prints: plain data.
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
  });
});
