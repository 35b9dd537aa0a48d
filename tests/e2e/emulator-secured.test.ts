import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { type SecuredBroker, startSecuredBroker, USERS } from '../helpers/secured-broker.js';
import { until } from '../helpers/wait.js';

/**
 * Secured clusters, end to end: a real broker with SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256,
 * PLAIN, OAUTHBEARER) and mutual-TLS listeners, certificates made by the test, and one
 * `sls offline start` of tests/fixtures/secured-service, whose mappings reach it each its own
 * way. Those the broker accepts deliver; those it refuses (a wrong password, a server
 * certificate from another CA, a client certificate it does not trust, an IAM token, which only
 * Amazon MSK verifies) and a missing secret are not started, with a message saying why.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/secured-service');
/** The fixture's ports: plaintext 29092, SASL_SSL 29094, SSL 29095. */
const BASE_PORT = 29092;
const arn = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`;

interface Delivery {
  fn: string;
  event: { bootstrapServers: string; records: Record<string, { value: string | null }[]> };
}

describe('serverless-offline-kafka on secured clusters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-secured-'));
  const recordFile = join(dir, 'deliveries.jsonl');
  const topic = unique('e2e-secured');
  const groupPrefix = unique('e2e-secured-group');
  let broker: SecuredBroker;
  let kafka: Kafka;
  let producer: Producer;
  let offline: Offline;

  const deliveries = (fn: string): Delivery[] =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Delivery)
          .filter((d) => d.fn === `secured-fixture-test-${fn}`)
      : [];
  const texts = (fn: string) =>
    deliveries(fn)
      .flatMap((d) => Object.values(d.event.records).flat())
      .map((r) => (r.value === null ? null : Buffer.from(r.value, 'base64').toString('utf8')));

  beforeAll(async () => {
    broker = await startSecuredBroker(join(dir, 'broker'), BASE_PORT);
    const { certificates } = broker;
    // What Secrets Manager would hold, keyed by ARN, in the file the fixture names.
    const secretsFile = join(dir, 'kafka-secrets.json');
    writeFileSync(
      secretsFile,
      JSON.stringify({
        [arn('bruno')]: USERS.scram512,
        [arn('emma')]: USERS.scram256,
        // A value as Secrets Manager's SecretString holds it: JSON text.
        [arn('rick')]: JSON.stringify(USERS.plain),
        [arn('bruno-wrong')]: { username: USERS.scram512.username, password: 'not-the-password' },
        [arn('ca')]: { certificate: certificates.caPem },
        [arn('other-ca')]: { certificate: certificates.otherCaPem },
        [arn('lena')]: certificates.client,
        [arn('lena-encrypted')]: {
          certificate: certificates.client.certificate,
          privateKey: certificates.encryptedKeys.pbes1,
          privateKeyPassword: certificates.encryptedKeys.password,
        },
        [arn('stranger')]: certificates.untrustedClient,
      }),
    );
    // The profile the msk mapping signs IAM tokens with (static keys: signing needs no network).
    const awsDir = join(dir, 'aws');
    writeFileSync(`${awsDir}-config`, '[profile offline-test]\nregion = us-east-1\n');
    writeFileSync(
      `${awsDir}-credentials`,
      '[offline-test]\naws_access_key_id = AKIAOFFLINETEST00001\naws_secret_access_key = offlineTestSecret0000000000000000000000000\n',
    );

    kafka = kafkaClient([broker.plaintext], 'secured-e2e', { retries: 3 });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: ['one', 'two', 'three'].map((value, i) => ({ key: `k${i}`, value })),
    });

    offline = await startOffline(
      FIXTURE,
      {
        RECORD_FILE: recordFile,
        SECRETS_FILE: secretsFile,
        TOPIC: topic,
        GROUP_PREFIX: groupPrefix,
        // MSK's certificates come from public CAs; the local stand-in's CA is trusted this way.
        NODE_EXTRA_CA_CERTS: certificates.caFile,
        AWS_CONFIG_FILE: `${awsDir}-config`,
        AWS_SHARED_CREDENTIALS_FILE: `${awsDir}-credentials`,
      },
      { ready: /Offline \[http for lambda\] listening/ },
    );
  });

  afterAll(async () => {
    await offline?.stop();
    await producer?.disconnect();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['scram512', 'SASL/SCRAM-SHA-512 over TLS', 'saslSsl'],
    ['scram256', 'SASL/SCRAM-SHA-256 over TLS', 'saslSsl'],
    ['plain', 'SASL/PLAIN over TLS', 'saslSsl'],
    ['mtls', 'mutual TLS', 'ssl'],
    ['mtlsEncryptedKey', 'mutual TLS', 'ssl'],
  ] as const)('%s connects with %s and delivers every record', async (fn, label, listener) => {
    await offline.waitForOutput(new RegExp(`Kafka ${fn}: connecting with ${label}`), 60_000);
    await until(() => texts(fn).length >= 3, 60_000, `${fn}'s deliveries`);
    expect(texts(fn).sort()).toEqual(['one', 'three', 'two']);
    // The event's bootstrapServers: the brokers it reads, the event's own.
    expect(deliveries(fn)[0]?.event.bootstrapServers).toBe(broker[listener]);
  });

  it('reads the plugin’s brokers in plaintext for a cluster not listed in clusters, and says so', async () => {
    await offline.waitForOutput(
      /Kafka unlisted: SASL_SCRAM_512_AUTH not used offline: its cluster is not in custom\.serverless-offline-kafka\.clusters, so it reads 127\.0\.0\.1:29092 in plaintext/,
      60_000,
    );
    await until(() => texts('unlisted').length >= 3, 60_000, 'the unlisted mapping’s deliveries');
  });

  it.each([
    [
      'wrongPassword',
      /Kafka wrongPassword: event source not started: SASL authentication failed \(SASL\/SCRAM-SHA-512 over TLS \(SASL_SCRAM_512_AUTH arn:\S+bruno-wrong-AbCdEf\) to 127\.0\.0\.1:29094\): SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials/,
    ],
    [
      'untrustedServer',
      /Kafka untrustedServer: event source not started: Lambda failed to authenticate server: SELF_SIGNED_CERT_IN_CHAIN, self-signed certificate in certificate chain .*; for a private CA, give the mapping a SERVER_ROOT_CA_CERTIFICATE secret/,
    ],
    [
      'untrustedClient',
      /Kafka untrustedClient: event source not started: Server failed to authenticate Lambda: the broker refused the client certificate \(ERR_SSL_\w+;/,
    ],
    [
      'missingSecret',
      /Kafka missingSecret: event source not started: the secret arn:aws:secretsmanager:us-east-1:123456789012:secret:nobody-AbCdEf \(SASL_SCRAM_512_AUTH\) is not set offline: add it to \S+kafka-secrets\.json or SERVERLESS_OFFLINE_KAFKA_SECRETS/,
    ],
    [
      'iam',
      /Kafka iam: event source not started: SASL authentication failed \(IAM \(tokens signed for us-east-1 with profile offline-test\) to 127\.0\.0\.1:29094\): the broker refused the IAM token .* Only Amazon MSK verifies IAM tokens/,
    ],
  ])('does not start %s, and says why', async (fn, message) => {
    await offline.waitForOutput(message, 60_000);
    expect(offline.output()).not.toMatch(new RegExp(`Kafka ${fn}: (connecting|consuming|joined)`));
    expect(deliveries(fn)).toEqual([]);
  });

  it('never prints a secret', async () => {
    await until(() => texts('scram512').length >= 3, 60_000, 'deliveries');
    const output = offline.output();
    for (const secret of [
      USERS.scram512.password,
      USERS.scram256.password,
      USERS.plain.password,
      'not-the-password',
      broker.certificates.encryptedKeys.password,
      // A line of each private key's base64.
      broker.certificates.client.privateKey.split('\n')[1],
      broker.certificates.untrustedClient.privateKey.split('\n')[1],
    ]) {
      expect(output).not.toContain(secret);
    }
  });

  it('stops cleanly', async () => {
    expect(await offline.stop()).toBe(0);
  });
});
