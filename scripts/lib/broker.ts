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
import { LOCAL_BROKERS } from '../../shared/kafka/client.js';
import { CACHE_DIR, LOCAL_DIR, ROOT } from './paths.js';
import { answers, isAlive, run, runInherit, waitFor } from './process.js';

/**
 * The local Kafka broker: an existing cluster (`KAFKA_BROKERS`), the `docker-compose.yml`
 * service when a Docker engine answers, or Apache Kafka from Maven Central run on the local Java.
 */

const POM = join(ROOT, 'scripts/kafka/pom.xml');
const SERVER_PROPERTIES = join(ROOT, 'scripts/kafka/server.properties');
const LOG4J_CONFIG = join(ROOT, 'scripts/kafka/log4j2.yaml');
const STATE_DIR = join(LOCAL_DIR, 'kafka');
const PID_FILE = join(STATE_DIR, 'broker.pid');
const MODE_FILE = join(STATE_DIR, 'mode');
export const BROKER_LOG = join(STATE_DIR, 'broker.log');
/** The local broker's address, the one the functions default to. */
export const LOCAL_BROKER = LOCAL_BROKERS[0];
const READY_TIMEOUT_MS = 90_000;

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

export interface BrokerHandle {
  readonly brokers: string[];
  readonly mode: Mode;
  /** Whether this call started the broker (and so should stop it). */
  readonly started: boolean;
}

const log = (message: string): void => {
  process.stderr.write(`[kafka] ${message}\n`);
};

/** Whether a broker answers a metadata request at `brokers` within `timeoutMs`. */
export const brokerAnswers = async (
  brokers: readonly string[],
  timeoutMs = 3_000,
): Promise<boolean> => {
  const admin = new Kafka({
    clientId: 'local-probe',
    brokers: [...brokers],
    connectionTimeout: Math.min(timeoutMs, 1_000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

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

const javaArgs = (mainClass: string, args: readonly string[]): string[] => [
  '-Xms256m',
  '-Xmx512m',
  `-Djava.io.tmpdir=${join(STATE_DIR, 'tmp')}`,
  `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
  `-Dkafka.logs.dir=${STATE_DIR}`,
  '-cp',
  `${KAFKA_LIBS}/*`,
  mainClass,
  ...args,
];

const readPid = (): number | undefined => {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

const startJavaBroker = async (): Promise<void> => {
  const java = javaMajorVersion();
  if (java === undefined || java < 17) {
    throw new Error(
      java === undefined
        ? 'No Docker engine and no Java found: install Java 17+ and Maven (or Docker), or set KAFKA_BROKERS to an existing cluster.'
        : `Java ${java} found, but Apache Kafka ${KAFKA_VERSION} needs Java 17+: install it, or Docker, or set KAFKA_BROKERS.`,
    );
  }
  await installKafkaJars();
  const dataDir = join(STATE_DIR, 'data');
  mkdirSync(join(STATE_DIR, 'tmp'), { recursive: true });
  const properties = join(STATE_DIR, 'server.properties');
  writeFileSync(properties, `${readFileSync(SERVER_PROPERTIES, 'utf8')}\nlog.dirs=${dataDir}\n`);
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    const clusterId = run('java', javaArgs('kafka.tools.StorageTool', ['random-uuid']));
    if (clusterId.code !== 0) throw new Error(`Could not create a cluster id: ${clusterId.stderr}`);
    const format = run(
      'java',
      javaArgs('kafka.tools.StorageTool', [
        'format',
        '-g',
        '-t',
        clusterId.stdout.trim(),
        '-c',
        properties,
      ]),
    );
    if (format.code !== 0) throw new Error(`Formatting KRaft storage failed: ${format.stderr}`);
  }
  const out = openSync(BROKER_LOG, 'a');
  const child = spawn('java', javaArgs('kafka.Kafka', [properties]), {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error('Could not start java');
  writeFileSync(PID_FILE, `${child.pid}\n`);
  child.unref();
  log(`started Apache Kafka ${KAFKA_VERSION} (pid ${child.pid}, log ${BROKER_LOG})`);
  const pid = child.pid;
  await waitFor(
    async () => {
      if (!isAlive(pid)) {
        throw new Error(
          `The broker exited during start-up; see ${BROKER_LOG}:\n${tail(BROKER_LOG)}`,
        );
      }
      return brokerAnswers([LOCAL_BROKER], 2_000);
    },
    READY_TIMEOUT_MS,
    `Kafka at ${LOCAL_BROKER} (see ${BROKER_LOG})`,
    500,
  );
  await waitFor(
    brokerServesNewTopics,
    READY_TIMEOUT_MS,
    `Kafka at ${LOCAL_BROKER} to serve new topics (see ${BROKER_LOG})`,
    500,
  );
};

/** A topic made and removed once at start-up, to see that the broker can serve new topics. */
const READINESS_TOPIC = 'local-readiness-probe';

/**
 * Whether a freshly started broker serves a topic created now. For a few seconds after it first
 * answers, Kafka 4 may create a topic yet answer its metadata with UNKNOWN_TOPIC_OR_PARTITION,
 * which kafkajs's `createTopics({ waitForLeaders: true })` does not retry: the first tests to
 * create a topic would fail.
 */
const brokerServesNewTopics = async (): Promise<boolean> => {
  const admin = new Kafka({
    clientId: 'local-probe',
    brokers: [LOCAL_BROKER],
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

const startDockerBroker = async (): Promise<void> => {
  log('starting the broker of docker-compose.yml');
  await runInherit('docker', ['compose', 'up', '-d', '--wait', 'kafka', 'kafka-ui'], { cwd: ROOT });
  await waitFor(
    () => brokerAnswers([LOCAL_BROKER], 2_000),
    READY_TIMEOUT_MS,
    `Kafka at ${LOCAL_BROKER}`,
    500,
  );
  await waitFor(
    brokerServesNewTopics,
    READY_TIMEOUT_MS,
    `Kafka at ${LOCAL_BROKER} to serve new topics`,
    500,
  );
};

/**
 * Makes sure a broker answers: uses `KAFKA_BROKERS` if given (starting nothing), else an
 * already running local broker, else starts one with Docker or Java.
 */
export const ensureBroker = async (
  configured: readonly string[] | undefined,
): Promise<BrokerHandle> => {
  if (configured) {
    if (!(await brokerAnswers(configured, 5_000))) {
      throw new Error(
        `KAFKA_BROKERS is set to ${configured.join(',')}, but no broker answers there.`,
      );
    }
    return { brokers: [...configured], mode: 'external', started: false };
  }
  mkdirSync(STATE_DIR, { recursive: true });
  if (await brokerAnswers([LOCAL_BROKER])) {
    return { brokers: [LOCAL_BROKER], mode: currentMode() ?? 'external', started: false };
  }
  const mode: Mode = dockerEngineAnswers() ? 'docker' : 'java';
  writeFileSync(MODE_FILE, `${mode}\n`);
  if (mode === 'docker') await startDockerBroker();
  else await startJavaBroker();
  return { brokers: [LOCAL_BROKER], mode, started: true };
};

const currentMode = (): Mode | undefined => {
  if (!existsSync(MODE_FILE)) return undefined;
  const mode = readFileSync(MODE_FILE, 'utf8').trim();
  return mode === 'docker' || mode === 'java' ? mode : undefined;
};

/** Stops the broker this project started (Java process or Docker service); waits for it to exit. */
export const stopBroker = async (): Promise<void> => {
  if (currentMode() === 'docker') {
    await runInherit('docker', ['compose', 'stop', 'kafka', 'kafka-ui'], { cwd: ROOT });
    rmSync(MODE_FILE, { force: true });
    return;
  }
  const pid = readPid();
  if (pid === undefined || !isAlive(pid)) {
    rmSync(PID_FILE, { force: true });
    log('no broker started by this project is running');
    return;
  }
  log(`stopping the broker (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !isAlive(pid), 30_000, 'the broker to shut down');
  } catch {
    log('the broker did not stop in 30 s; killing it');
    process.kill(pid, 'SIGKILL');
  }
  rmSync(PID_FILE, { force: true });
  rmSync(MODE_FILE, { force: true });
};

/** What runs now, for `npm run kafka:status`. */
export const brokerStatus = async (configured: readonly string[] | undefined): Promise<string> => {
  const brokers = configured ?? [LOCAL_BROKER];
  const up = await brokerAnswers(brokers);
  const pid = readPid();
  const owner =
    currentMode() === 'docker'
      ? ' (docker compose)'
      : pid !== undefined && isAlive(pid)
        ? ` (java, pid ${pid}, log ${BROKER_LOG})`
        : '';
  return `${brokers.join(',')}: ${up ? `up${owner}` : 'not answering'}`;
};
