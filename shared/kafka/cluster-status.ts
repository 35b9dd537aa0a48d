import { connect } from 'node:net';
import type { Admin } from 'kafkajs';

/**
 * Who is who in a Kafka cluster right now: each node (answering or not, the active controller or
 * not) and, for some topics, each partition's leader, replicas and in-sync replicas. The result
 * is plain data: `npm run kafka:status -- --json` prints it as it is.
 */

export interface NodeStatus {
  readonly id: number;
  /** `host:port` clients bootstrap from. */
  readonly address: string;
  /** The node's process id when it runs on this machine from the jars, else `null`. */
  readonly pid: number | null;
  /** Whether the node answers a request at `address` now. */
  readonly up: boolean;
  /** Whether the node is the active controller (the leader of the KRaft quorum). */
  readonly controller: boolean;
  /** Whether the node is a voter of the KRaft quorum (may become the controller). */
  readonly voter: boolean;
}

export interface PartitionStatus {
  readonly topic: string;
  readonly partition: number;
  /** The leader's node id, or `null` while the partition has none (offline). */
  readonly leader: number | null;
  readonly replicas: readonly number[];
  /** In-sync replicas: those a write acknowledged with `acks=all` is on. */
  readonly isr: readonly number[];
}

export interface ClusterStatus {
  readonly nodes: readonly NodeStatus[];
  readonly partitions: readonly PartitionStatus[];
}

/** A node the caller expects, from its own configuration: the metadata forgets nodes that died. */
export interface ExpectedNode {
  readonly id: number;
  readonly address: string;
  readonly pid?: number | null;
}

export interface ClusterStatusOptions {
  readonly nodes: readonly ExpectedNode[];
  readonly topics: readonly string[];
  /** An admin client of the cluster; connected here if need be, not disconnected. */
  readonly admin: Admin;
  /** Longest any one question may take; a node that does not answer by then is down. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 1_500;

/** The status of `nodes` and of the partitions of `topics`. Never throws for a node that is down. */
export const clusterStatus = async ({
  nodes,
  topics,
  admin,
  timeoutMs = DEFAULT_TIMEOUT_MS,
}: ClusterStatusOptions): Promise<ClusterStatus> => {
  const up = await Promise.all(nodes.map((n) => answers(n.address, timeoutMs)));
  const live = nodes.filter((_, i) => up[i]);
  let quorum: Quorum | undefined;
  for (const node of live) {
    quorum = await describeQuorum(node.address, timeoutMs).catch(() => undefined);
    if (quorum) break;
  }
  const partitions = live.length > 0 ? await partitionsOf(admin, topics, timeoutMs) : [];
  return {
    nodes: nodes.map((n, i) => ({
      id: n.id,
      address: n.address,
      pid: n.pid ?? null,
      up: up[i] ?? false,
      controller: quorum?.leader === n.id,
      voter: quorum?.voters.includes(n.id) ?? false,
    })),
    partitions,
  };
};

const partitionsOf = async (
  admin: Admin,
  topics: readonly string[],
  timeoutMs: number,
): Promise<PartitionStatus[]> => {
  const existing = new Set(
    await within(
      admin.connect().then(() => admin.listTopics()),
      timeoutMs,
      [],
    ),
  );
  const wanted = topics.filter((t) => existing.has(t));
  if (wanted.length === 0) return [];
  const metadata = await within(admin.fetchTopicMetadata({ topics: wanted }), timeoutMs, {
    topics: [],
  });
  return metadata.topics
    .flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partitionId,
        leader: p.leader >= 0 ? p.leader : null,
        replicas: [...p.replicas].sort((a, b) => a - b),
        isr: [...p.isr].sort((a, b) => a - b),
      })),
    )
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
};

/** `promise`, or `fallback` when it fails or takes longer than `ms`. */
export const within = <T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.catch(() => fallback),
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/*
 * Two requests kafkajs does not have, written by hand (Kafka protocol guide, "The Messages";
 * clients/src/main/resources/common/message/*.json in Apache Kafka):
 * - ApiVersions v0 (key 18), whose answer says that a node is up;
 * - DescribeQuorum v0 (key 55), which brokers forward to the active controller: the quorum's
 *   leader and voters. In KRaft the Metadata response's controller id is a random live broker
 *   (clients cannot reach controllers), so kafkajs's describeCluster() cannot tell.
 */

const API_VERSIONS = { key: 18, version: 0, flexible: false } as const;
const DESCRIBE_QUORUM = { key: 55, version: 0, flexible: true } as const;
const CLUSTER_METADATA_TOPIC = '__cluster_metadata';
const CLIENT_ID = 'cluster-status';

interface Quorum {
  readonly leader: number | null;
  readonly voters: readonly number[];
}

const answers = async (address: string, timeoutMs: number): Promise<boolean> =>
  request(address, API_VERSIONS, Buffer.alloc(0), timeoutMs).then(
    () => true,
    () => false,
  );

/** The quorum as the node at `address` (forwarding to the controller) describes it. */
export const describeQuorum = async (address: string, timeoutMs: number): Promise<Quorum> => {
  const topic = Buffer.from(CLUSTER_METADATA_TOPIC);
  const body = Buffer.concat([
    uvarint(2), // one topic (compact arrays hold length + 1)
    uvarint(topic.length + 1),
    topic,
    uvarint(2), // one partition
    int32(0),
    uvarint(0), // the partition's tagged fields
    uvarint(0), // the topic's
    uvarint(0), // the request's
  ]);
  const reader = new Reader(await request(address, DESCRIBE_QUORUM, body, timeoutMs));
  const error = reader.int16();
  if (error !== 0) throw new Error(`DescribeQuorum error ${error}`);
  reader.uvarint(); // topics (one)
  reader.skip(reader.uvarint() - 1); // its name
  reader.uvarint(); // partitions (one)
  reader.int32(); // partition index
  const partitionError = reader.int16();
  if (partitionError !== 0) throw new Error(`DescribeQuorum partition error ${partitionError}`);
  const leader = reader.int32();
  reader.int32(); // leader epoch
  reader.skip(8); // high watermark
  const voters: number[] = [];
  for (let n = reader.uvarint() - 1; n > 0; n--) {
    voters.push(reader.int32());
    reader.skip(8); // log end offset
    reader.taggedFields();
  }
  return { leader: leader >= 0 ? leader : null, voters: voters.sort((a, b) => a - b) };
};

let correlation = 0;

/** Sends one request to `address` and resolves with the response body (after its header). */
const request = (
  address: string,
  api: { readonly key: number; readonly version: number; readonly flexible: boolean },
  body: Buffer,
  timeoutMs: number,
): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const [host, port] = splitAddress(address);
    correlation = (correlation + 1) & 0x7fffffff;
    const id = correlation;
    const clientId = Buffer.from(CLIENT_ID);
    const header = Buffer.concat([
      int16(api.key),
      int16(api.version),
      int32(id),
      int16(clientId.length),
      clientId,
      api.flexible ? uvarint(0) : Buffer.alloc(0),
    ]);
    const socket = connect({ host, port });
    const timer = setTimeout(
      () => fail(new Error(`${address}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    let received = Buffer.alloc(0);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.on('error', fail);
    socket.on('connect', () => {
      socket.write(Buffer.concat([int32(header.length + body.length), header, body]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      clearTimeout(timer);
      socket.destroy();
      const reader = new Reader(received.subarray(4, 4 + received.readInt32BE(0)));
      if (reader.int32() !== id) {
        reject(new Error(`${address}: answer to another request`));
        return;
      }
      // Flexible responses (except ApiVersions) have a header with tagged fields.
      if (api.flexible) reader.taggedFields();
      resolve(reader.rest());
    });
    socket.on('close', () => fail(new Error(`${address}: connection closed`)));
  });

const splitAddress = (address: string): [string, number] => {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
};

const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const uvarint = (n: number) => {
  const bytes: number[] = [];
  let v = n;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
};

class Reader {
  #at = 0;
  readonly #buffer: Buffer;

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  int16(): number {
    const v = this.#buffer.readInt16BE(this.#at);
    this.#at += 2;
    return v;
  }

  int32(): number {
    const v = this.#buffer.readInt32BE(this.#at);
    this.#at += 4;
    return v;
  }

  uvarint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = this.#buffer.readUInt8(this.#at++);
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  skip(bytes: number): void {
    this.#at += bytes;
  }

  taggedFields(): void {
    for (let n = this.uvarint(); n > 0; n--) {
      this.uvarint(); // tag
      this.skip(this.uvarint());
    }
  }

  rest(): Buffer {
    return this.#buffer.subarray(this.#at);
  }
}
