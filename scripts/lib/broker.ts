import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { type ClusterStatus, clusterStatus } from '../../shared/kafka/cluster-status.js';
import {
  DEFAULT_BASE_PORT,
  type KafkaNode,
  kafkaNodes,
  type LocalNodeCount,
  nodeProperties,
  propertiesText,
} from './kafka-nodes.js';
import { CACHE_DIR, LOCAL_DIR, ROOT } from './paths.js';
import { answers, isAlive, run, runInherit, waitFor } from './process.js';

/**
 * The local Kafka: an existing cluster (`KAFKA_BROKERS`), the `docker-compose.yml` services when
 * a Docker engine answers, or Apache Kafka from Maven Central run on the local Java: one node, or
 * three (`LOCAL_KAFKA_BROKERS=3`) that an operator can stop, kill and start one at a time.
 */

const POM = join(ROOT, 'scripts/kafka/pom.xml');
const LOG4J_CONFIG = join(ROOT, 'scripts/kafka/log4j2.yaml');
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

/** The Kafka version, read from the pom so that there is one place to change it. */
export const KAFKA_VERSION = (() => {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(POM, 'utf8'));
  if (!match?.[1]) throw new Error(`No <kafka.version> in ${POM}`);
  return match[1];
})();

/** Where the resolved jars live (the broker's classpath, plus the Kafka tools for benchmarks). */
export const KAFKA_LIBS = join(CACHE_DIR, 'kafka', KAFKA_VERSION, 'libs');
const LIBS_COMPLETE = join(KAFKA_LIBS, '.complete');

type Mode = 'external' | 'docker' | 'java';

/** A local Kafka of one or three nodes, and the folder of its data, logs and pid files. */
export interface LocalKafka {
  readonly nodes: readonly KafkaNode[];
  readonly stateDir: string;
}

/**
 * The local Kafka of `count` nodes: `.local/kafka` (one node) or `.local/kafka-3`, node 1 on
 * 127.0.0.1:9092. Tests and benchmarks that start a cluster of their own pass another base port
 * and folder.
 */
export const localKafka = (
  count: LocalNodeCount,
  { basePort = DEFAULT_BASE_PORT, stateDir }: { basePort?: number; stateDir?: string } = {},
): LocalKafka => ({
  nodes: kafkaNodes(count, basePort),
  stateDir: stateDir ?? join(LOCAL_DIR, count === 1 ? 'kafka' : `kafka-${count}`),
});

/** The client addresses of every node. */
export const addressesOf = (cluster: LocalKafka): string[] => cluster.nodes.map((n) => n.address);

export interface BrokerHandle {
  readonly brokers: string[];
  readonly mode: Mode;
  /** Whether this call started the broker (and so should stop it). */
  readonly started: boolean;
  /** The local Kafka, unless `KAFKA_BROKERS` named another one. */
  readonly local: LocalKafka | undefined;
}

const log = (message: string): void => {
  process.stderr.write(`[kafka] ${message}\n`);
};

const nodeDir = (cluster: LocalKafka, id: number) => join(cluster.stateDir, `node-${id}`);
const pidFile = (cluster: LocalKafka, id: number) => join(nodeDir(cluster, id), 'kafka.pid');
/** Node `id`'s log. */
export const nodeLog = (cluster: LocalKafka, id: number): string =>
  join(nodeDir(cluster, id), 'kafka.log');
const modeFile = (cluster: LocalKafka) => join(cluster.stateDir, 'mode');

const nodeOf = (cluster: LocalKafka, id: number): KafkaNode => {
  const node = cluster.nodes.find((n) => n.id === id);
  if (!node) {
    throw new Error(
      `No node ${id}: the local Kafka has nodes ${cluster.nodes.map((n) => n.id).join(', ')}`,
    );
  }
  return node;
};

/** A quiet admin-capable client with short timeouts, for probes. */
const probeClient = (brokers: readonly string[], timeoutMs: number) =>
  new Kafka({
    clientId: 'local-probe',
    brokers: [...brokers],
    connectionTimeout: Math.min(timeoutMs, 1_000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });

/** The ids of the live brokers a cluster at `brokers` reports, or `undefined` when none answers. */
export const liveBrokers = async (
  brokers: readonly string[],
  timeoutMs = 3_000,
): Promise<number[] | undefined> => {
  const admin = probeClient(brokers, timeoutMs).admin();
  try {
    await admin.connect();
    const { brokers: live } = await admin.describeCluster();
    return live.map((b) => b.nodeId).sort((a, b) => a - b);
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

/** The brokers an external cluster reports (those it has fenced are not listed). */
const externalNodes = async (brokers: readonly string[]) => {
  const admin = probeClient(brokers, 3_000).admin();
  try {
    await admin.connect();
    const { brokers: live } = await admin.describeCluster();
    return live
      .map((b) => ({ id: b.nodeId, address: `${b.host}:${b.port}`, pid: null }))
      .sort((a, b) => a.id - b.id);
  } catch {
    return brokers.map((address, i) => ({ id: i + 1, address, pid: null }));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

/** Whether a broker answers a metadata request at `brokers` within `timeoutMs`. */
export const brokerAnswers = async (
  brokers: readonly string[],
  timeoutMs = 3_000,
): Promise<boolean> => (await liveBrokers(brokers, timeoutMs)) !== undefined;

const dockerEngineAnswers = (): boolean =>
  answers('docker', ['info', '--format', '{{.ServerVersion}}']);

const javaMajorVersion = (): number | undefined => {
  const out = run('java', ['-version']);
  if (out.code !== 0) return undefined;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(out.stderr + out.stdout);
  if (!match?.[1]) return undefined;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major;
};

/** Resolves the Kafka jars with Maven into `.cache/` (once). */
export const installKafkaJars = async (): Promise<void> => {
  if (existsSync(LIBS_COMPLETE)) return;
  if (!answers('mvn', ['-v'])) {
    throw new Error(
      'Maven is needed once to download Apache Kafka: install Maven (and Java 17+), or Docker, or set KAFKA_BROKERS.',
    );
  }
  log(`resolving Apache Kafka ${KAFKA_VERSION} jars with Maven into ${KAFKA_LIBS}`);
  rmSync(KAFKA_LIBS, { recursive: true, force: true });
  mkdirSync(KAFKA_LIBS, { recursive: true });
  await runInherit('mvn', [
    '-q',
    '-B',
    '-f',
    POM,
    'dependency:copy-dependencies',
    `-DoutputDirectory=${KAFKA_LIBS}`,
  ]);
  writeFileSync(LIBS_COMPLETE, `${KAFKA_VERSION}\n`);
};

/** Each node's heap: 512 MiB for one node, 256 MiB for each of three (docker-compose.yml alike). */
export const heapOptions = (count: number): string[] =>
  count === 1 ? ['-Xms256m', '-Xmx512m'] : ['-Xms128m', '-Xmx256m'];

/**
 * The JVM's options. Three nodes also get the serial collector (one GC thread instead of G1's
 * several) and C1 compilation only: three JVMs share the 2 cores of a small machine with sls
 * offline, and start in less CPU time.
 */
const javaArgs = (
  count: number,
  dir: string,
  mainClass: string,
  args: readonly string[],
): string[] => [
  ...heapOptions(count),
  ...(count === 1 ? [] : ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1']),
  `-Djava.io.tmpdir=${join(dir, 'tmp')}`,
  `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
  `-Dkafka.logs.dir=${dir}`,
  '-cp',
  `${KAFKA_LIBS}/*`,
  mainClass,
  ...args,
];

const readPid = (cluster: LocalKafka, id: number): number | undefined => {
  const file = pidFile(cluster, id);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

/** Node `id`'s process id while it runs (jars only). */
export const runningPid = (cluster: LocalKafka, id: number): number | undefined => {
  const pid = readPid(cluster, id);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
};

const checkJava = (): void => {
  const java = javaMajorVersion();
  if (java === undefined || java < 17) {
    throw new Error(
      java === undefined
        ? 'No Docker engine and no Java found: install Java 17+ and Maven (or Docker), or set KAFKA_BROKERS to an existing cluster.'
        : `Java ${java} found, but Apache Kafka ${KAFKA_VERSION} needs Java 17+: install it, or Docker, or set KAFKA_BROKERS.`,
    );
  }
};

/** The cluster's id, made once: every node's storage is formatted with it. */
const clusterId = (cluster: LocalKafka): string => {
  const file = join(cluster.stateDir, 'cluster-id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const dir = nodeDir(cluster, 1);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const made = run('java', javaArgs(1, dir, 'kafka.tools.StorageTool', ['random-uuid']));
  if (made.code !== 0) throw new Error(`Could not create a cluster id: ${made.stderr}`);
  writeFileSync(file, `${made.stdout.trim()}\n`);
  return made.stdout.trim();
};

/** Writes node `id`'s properties and formats its storage the first time. */
const prepareNode = (cluster: LocalKafka, node: KafkaNode): string => {
  const dir = nodeDir(cluster, node.id);
  const dataDir = join(dir, 'data');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const properties = join(dir, 'server.properties');
  const settings = nodeProperties(cluster.nodes, node);
  settings.set('log.dirs', dataDir);
  writeFileSync(properties, propertiesText(settings));
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    const format = run(
      'java',
      javaArgs(cluster.nodes.length, dir, 'kafka.tools.StorageTool', [
        'format',
        '-g',
        '-t',
        clusterId(cluster),
        '-c',
        properties,
      ]),
    );
    if (format.code !== 0) throw new Error(`Formatting KRaft storage failed: ${format.stderr}`);
  }
  return properties;
};

/** Starts node `id`'s JVM (jars) and records its pid; does not wait for it to answer. */
const spawnNode = (cluster: LocalKafka, node: KafkaNode): number => {
  const properties = prepareNode(cluster, node);
  const dir = nodeDir(cluster, node.id);
  const logFile = nodeLog(cluster, node.id);
  const out = openSync(logFile, 'a');
  const child = spawn('java', javaArgs(cluster.nodes.length, dir, 'kafka.Kafka', [properties]), {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error('Could not start java');
  writeFileSync(pidFile(cluster, node.id), `${child.pid}\n`);
  child.unref();
  log(`started node ${node.id} at ${node.address} (pid ${child.pid}, log ${logFile})`);
  return child.pid;
};

/** Waits until node `node` (pid `pid`) answers at its own address. */
const waitForNode = async (cluster: LocalKafka, node: KafkaNode, pid: number): Promise<void> => {
  const logFile = nodeLog(cluster, node.id);
  await waitFor(
    async () => {
      if (!isAlive(pid)) {
        throw new Error(
          `Node ${node.id} exited during start-up; see ${logFile}:\n${tail(logFile)}`,
        );
      }
      return brokerAnswers([node.address], 2_000);
    },
    READY_TIMEOUT_MS,
    `Kafka node ${node.id} at ${node.address} (see ${logFile})`,
    500,
  );
};

/** Waits until the cluster reports every one of its nodes live, then serves new topics. */
const waitForCluster = async (cluster: LocalKafka): Promise<void> => {
  const addresses = addressesOf(cluster);
  await waitFor(
    async () => (await liveBrokers(addresses, 2_000))?.length === cluster.nodes.length,
    READY_TIMEOUT_MS,
    `all ${cluster.nodes.length} Kafka nodes to join the cluster`,
    500,
  );
  await waitFor(
    () => brokerServesNewTopics(addresses),
    READY_TIMEOUT_MS,
    `Kafka at ${addresses.join(',')} to serve new topics`,
    500,
  );
};

const startJavaCluster = async (cluster: LocalKafka): Promise<void> => {
  checkJava();
  await installKafkaJars();
  mkdirSync(cluster.stateDir, { recursive: true });
  clusterId(cluster);
  log(`starting Apache Kafka ${KAFKA_VERSION}, ${cluster.nodes.length} node(s)`);
  const pids = cluster.nodes.map((node) => spawnNode(cluster, node));
  // The nodes of a quorum elect a controller only together: wait for them all at once.
  await Promise.all(cluster.nodes.map((node, i) => waitForNode(cluster, node, pids[i] ?? 0)));
  await waitForCluster(cluster);
};

/** A topic made and removed once at start-up, to see that the broker can serve new topics. */
const READINESS_TOPIC = 'local-readiness-probe';

/**
 * Whether a freshly started broker serves a topic created now. For a few seconds after it first
 * answers, Kafka 4 may create a topic yet answer its metadata with UNKNOWN_TOPIC_OR_PARTITION,
 * which kafkajs's `createTopics({ waitForLeaders: true })` does not retry: the first tests to
 * create a topic would fail.
 */
const brokerServesNewTopics = async (brokers: readonly string[]): Promise<boolean> => {
  const admin = new Kafka({
    clientId: 'local-probe',
    brokers: [...brokers],
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: READINESS_TOPIC }], waitForLeaders: true });
    await admin.fetchTopicMetadata({ topics: [READINESS_TOPIC] });
    await admin.deleteTopics({ topics: [READINESS_TOPIC] });
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

const tail = (file: string, lines = 20): string =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';

/** The docker-compose.yml services of a local Kafka: `kafka`, or `kafka-1`... (profile cluster). */
const composeServices = (cluster: LocalKafka): string[] =>
  cluster.nodes.length === 1 ? ['kafka'] : cluster.nodes.map((n) => `kafka-${n.id}`);

const compose = (cluster: LocalKafka, args: readonly string[]) =>
  runInherit(
    'docker',
    ['compose', ...(cluster.nodes.length > 1 ? ['--profile', 'cluster'] : []), ...args],
    { cwd: ROOT },
  );

const startDockerCluster = async (cluster: LocalKafka): Promise<void> => {
  log('starting the Kafka of docker-compose.yml');
  const ui = cluster.nodes.length === 1 ? ['kafka-ui'] : [];
  await compose(cluster, ['up', '-d', '--wait', ...composeServices(cluster), ...ui]);
  await waitForCluster(cluster);
};

/**
 * Makes sure a Kafka answers: uses `KAFKA_BROKERS` if given (starting nothing), else an already
 * running local one of `nodes` nodes, else starts one with Docker or Java.
 */
export const ensureBroker = async (
  configured: readonly string[] | undefined,
  nodes: LocalNodeCount = 1,
): Promise<BrokerHandle> => {
  if (configured) {
    if (!(await brokerAnswers(configured, 5_000))) {
      throw new Error(
        `KAFKA_BROKERS is set to ${configured.join(',')}, but no broker answers there.`,
      );
    }
    return { brokers: [...configured], mode: 'external', started: false, local: undefined };
  }
  const cluster = localKafka(nodes);
  mkdirSync(cluster.stateDir, { recursive: true });
  const running = await liveBrokers(addressesOf(cluster));
  if (running) {
    // The other shape on the same ports: a node this one does not have, or its processes.
    const other = localKafka(nodes === 1 ? 3 : 1);
    if (
      running.some((id) => !cluster.nodes.some((n) => n.id === id)) ||
      other.nodes.some((n) => runningPid(other, n.id) !== undefined)
    ) {
      throw new Error(
        `A local Kafka of ${other.nodes.length} node(s) already answers at ${cluster.nodes[0]?.address}, not the ${nodes} asked for (LOCAL_KAFKA_BROKERS=${nodes}): stop it first (LOCAL_KAFKA_BROKERS=${other.nodes.length} npm run kafka:stop).`,
      );
    }
    return {
      brokers: addressesOf(cluster),
      mode: currentMode(cluster) ?? 'external',
      started: false,
      local: cluster,
    };
  }
  const mode: Mode = dockerEngineAnswers() ? 'docker' : 'java';
  writeFileSync(modeFile(cluster), `${mode}\n`);
  if (mode === 'docker') await startDockerCluster(cluster);
  else await startJavaCluster(cluster);
  return { brokers: addressesOf(cluster), mode, started: true, local: cluster };
};

/** Starts a local Kafka of its own on the jars (tests, benchmarks): never reuses one. */
export const startLocalKafka = async (cluster: LocalKafka): Promise<void> => {
  if (await brokerAnswers(addressesOf(cluster), 1_000)) {
    throw new Error(`Something already answers at ${addressesOf(cluster).join(',')}`);
  }
  mkdirSync(cluster.stateDir, { recursive: true });
  writeFileSync(modeFile(cluster), 'java\n');
  await startJavaCluster(cluster);
};

const currentMode = (cluster: LocalKafka): Mode | undefined => {
  const file = modeFile(cluster);
  if (!existsSync(file)) return undefined;
  const mode = readFileSync(file, 'utf8').trim();
  return mode === 'docker' || mode === 'java' ? mode : undefined;
};

/**
 * Stops node `id`: SIGTERM, a controlled shutdown (its partitions get new leaders first, then it
 * leaves), waiting for it to exit; with `kill`, SIGKILL, as a crash.
 */
export const stopNode = async (
  cluster: LocalKafka,
  id: number,
  { kill = false }: { kill?: boolean } = {},
): Promise<void> => {
  const node = nodeOf(cluster, id);
  if (currentMode(cluster) === 'docker') {
    await compose(cluster, [kill ? 'kill' : 'stop', composeServices(cluster)[node.id - 1] ?? '']);
    return;
  }
  const pid = runningPid(cluster, id);
  if (pid === undefined) {
    log(`node ${id} is not running`);
    return;
  }
  log(`${kill ? 'killing' : 'stopping'} node ${id} (pid ${pid})`);
  process.kill(pid, kill ? 'SIGKILL' : 'SIGTERM');
  try {
    await waitFor(() => !isAlive(pid), STOP_TIMEOUT_MS, `node ${id} to shut down`, 100);
  } catch {
    log(`node ${id} did not stop in ${STOP_TIMEOUT_MS / 1000} s; killing it`);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), 5_000, `node ${id} to die`, 100);
  }
  rmSync(pidFile(cluster, id), { force: true });
};

/** Starts node `id` again and waits until it answers (its data and cluster id are kept). */
export const startNode = async (cluster: LocalKafka, id: number): Promise<void> => {
  const node = nodeOf(cluster, id);
  if (currentMode(cluster) === 'docker') {
    await compose(cluster, ['up', '-d', '--wait', composeServices(cluster)[node.id - 1] ?? '']);
    return;
  }
  if (runningPid(cluster, id) !== undefined) {
    log(`node ${id} is already running (pid ${runningPid(cluster, id)})`);
    return;
  }
  checkJava();
  await waitForNode(cluster, node, spawnNode(cluster, node));
};

/** Stops every node of the local Kafka this project started (Java processes or Docker services). */
export const stopBroker = async (cluster: LocalKafka = localKafka(1)): Promise<void> => {
  if (currentMode(cluster) === 'docker') {
    const ui = cluster.nodes.length === 1 ? ['kafka-ui'] : [];
    await compose(cluster, ['stop', ...composeServices(cluster), ...ui]);
    rmSync(modeFile(cluster), { force: true });
    return;
  }
  const running = cluster.nodes.filter((n) => runningPid(cluster, n.id) !== undefined);
  if (running.length === 0) log('no Kafka node started by this project is running');
  // All at once: stopped one by one, the last ones would wait for a quorum that has gone.
  await Promise.all(running.map((n) => stopNode(cluster, n.id)));
  rmSync(modeFile(cluster), { force: true });
};

/**
 * What runs now, for `npm run kafka:status`: every node of the local Kafka (or of `KAFKA_BROKERS`,
 * numbered as listed) and the partitions of `topics`.
 */
export const brokerStatus = async (
  cluster: LocalKafka,
  configured: readonly string[] | undefined,
  topics: readonly string[],
): Promise<ClusterStatus> => {
  const nodes = configured
    ? await externalNodes(configured)
    : cluster.nodes.map((n) => ({
        id: n.id,
        address: n.address,
        pid: runningPid(cluster, n.id) ?? null,
      }));
  // Retries, each on another seed node: the first one tried may be down.
  const admin = new Kafka({
    clientId: 'kafka-status',
    brokers: configured ? [...configured] : addressesOf(cluster),
    connectionTimeout: 500,
    requestTimeout: 1_500,
    retry: { retries: 4, initialRetryTime: 20, maxRetryTime: 100 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    return await clusterStatus({ nodes, topics, admin });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};
