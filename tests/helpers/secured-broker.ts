import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerAnswers, installKafkaJars, KAFKA_LIBS } from '../../scripts/lib/broker.js';
import { ROOT } from '../../scripts/lib/paths.js';
import { run, waitFor } from '../../scripts/lib/process.js';
import { makeCertificates, type TestCertificates } from './certificates.js';

/**
 * A single-node Kafka with the listeners Lambda connects to, for the secured-cluster tests and
 * benchmark: SASL_SSL with SCRAM-SHA-256, SCRAM-SHA-512, PLAIN and OAUTHBEARER (MSK's port
 * 9096 and IAM's 9098 in one), SSL with client certificates required (mutual TLS, MSK's 9094),
 * and PLAINTEXT for the test's own producer and the benchmark's baseline. Certificates are made
 * for the run (`certificates.ts`); SCRAM users are written when the storage is formatted, PLAIN
 * users in the listener's JAAS line.
 */

/** The users the broker knows, by mechanism. */
export const USERS = {
  scram512: { username: 'bruno', password: 'bruno-secret' },
  scram256: { username: 'emma', password: 'emma-secret' },
  plain: { username: 'rick', password: 'rick-secret' },
} as const;

export interface SecuredBroker {
  readonly plaintext: string;
  readonly saslSsl: string;
  readonly ssl: string;
  readonly certificates: TestCertificates;
  readonly log: string;
  stop(): Promise<void>;
}

const LOG4J_CONFIG = join(ROOT, 'scripts/kafka/log4j2.yaml');
const READY_TIMEOUT_MS = 120_000;

/** The local broker's JVM settings (scripts/lib/broker.ts): TLS is measured on it too. */
const javaArgs = (dir: string, mainClass: string, args: readonly string[]): string[] => [
  '-Xms256m',
  '-Xmx512m',
  `-Djava.io.tmpdir=${join(dir, 'tmp')}`,
  `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
  `-Dkafka.logs.dir=${dir}`,
  '-cp',
  `${KAFKA_LIBS}/*`,
  mainClass,
  ...args,
];

const properties = (dir: string, basePort: number, certificates: TestCertificates): string =>
  `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${basePort + 1}
listeners=PLAINTEXT://127.0.0.1:${basePort},CONTROLLER://127.0.0.1:${basePort + 1},SASL_SSL://127.0.0.1:${basePort + 2},SSL://127.0.0.1:${basePort + 3}
advertised.listeners=PLAINTEXT://127.0.0.1:${basePort},SASL_SSL://127.0.0.1:${basePort + 2},SSL://127.0.0.1:${basePort + 3}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
ssl.keystore.type=PEM
ssl.keystore.location=${certificates.brokerKeystoreFile}
ssl.truststore.type=PEM
ssl.truststore.location=${certificates.caFile}
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${USERS.plain.username}="${USERS.plain.password}";
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
auto.create.topics.enable=false
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
log.dirs=${join(dir, 'data')}
`;

/**
 * Starts the broker in `dir` (certificates, data and log there) on `basePort` (plaintext),
 * `basePort + 1` (controller), `basePort + 2` (SASL_SSL) and `basePort + 3` (SSL); resolves once
 * it answers. `stop()` ends the process this started.
 */
export const startSecuredBroker = async (dir: string, basePort: number): Promise<SecuredBroker> => {
  await installKafkaJars();
  const certificates = makeCertificates(join(dir, 'tls'));
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const file = join(dir, 'server.properties');
  writeFileSync(file, properties(dir, basePort, certificates));
  const java = (mainClass: string, args: readonly string[]) => {
    const out = run('java', javaArgs(dir, mainClass, args));
    if (out.code !== 0) throw new Error(`${mainClass} failed: ${out.stderr}`);
    return out.stdout.trim();
  };
  const clusterId = java('kafka.tools.StorageTool', ['random-uuid']);
  java('kafka.tools.StorageTool', [
    'format',
    '-t',
    clusterId,
    '-c',
    file,
    '--add-scram',
    `SCRAM-SHA-512=[name=${USERS.scram512.username},password=${USERS.scram512.password}]`,
    '--add-scram',
    `SCRAM-SHA-256=[name=${USERS.scram256.username},password=${USERS.scram256.password}]`,
  ]);
  const log = join(dir, 'broker.log');
  const out = openSync(log, 'a');
  const child: ChildProcess = spawn('java', javaArgs(dir, 'kafka.Kafka', [file]), {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const plaintext = `127.0.0.1:${basePort}`;
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`the secured broker exited during start-up:\n${tail(log)}`);
        return brokerAnswers([plaintext], 2_000);
      },
      READY_TIMEOUT_MS,
      `the secured broker at ${plaintext} (log ${log})`,
      500,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    plaintext,
    saslSsl: `127.0.0.1:${basePort + 2}`,
    ssl: `127.0.0.1:${basePort + 3}`,
    certificates,
    log,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
};

const tail = (file: string, lines = 20): string =>
  readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
