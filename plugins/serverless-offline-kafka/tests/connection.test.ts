import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../../../tests/helpers/certificates.js';
import type { Access } from '../src/access.js';
import {
  type ClusterOption,
  type Connection,
  clustersOf,
  connectionOf,
  iamTokenProvider,
  refusalOf,
} from '../src/connection.js';
import { SecretStore } from '../src/secrets.js';
import { pluginErrors, testMapping } from './support.js';

const { AuthenticationError, MappingError, SecretError } = pluginErrors;

const secret = (name: string) =>
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
const CLUSTER_ARN = 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1';
const LOCAL = ['127.0.0.1:9092'];
const NONE: Access = { sasl: undefined, clientCertificate: undefined, serverRootCa: undefined };

describe('clustersOf: the clusters option', () => {
  it('reads each cluster’s brokers (list or comma-separated), auth (plaintext by default) and profile', () => {
    expect([
      ...clustersOf({
        [CLUSTER_ARN]: { brokers: 'b-1:9098, b-2:9098', auth: 'iam', awsProfile: 'dev' },
        'pkc-1.example:9092': {},
        'other:9092': null,
      }),
    ]).toEqual([
      [CLUSTER_ARN, { brokers: ['b-1:9098', 'b-2:9098'], auth: 'iam', awsProfile: 'dev' }],
      ['pkc-1.example:9092', { brokers: undefined, auth: 'plaintext', awsProfile: undefined }],
      ['other:9092', { brokers: undefined, auth: 'plaintext', awsProfile: undefined }],
    ]);
    expect(clustersOf(undefined).size).toBe(0);
  });

  it.each([
    ['not an object', ['x'], /clusters must be an object keyed by cluster ARN or bootstrap server/],
    ['an entry that is not an object', { a: 'b' }, /clusters\["a"\] must be an object/],
    [
      'an unknown auth',
      { a: { auth: 'scram' } },
      /clusters\["a"\]\.auth must be iam, tls, plaintext; received "scram"/,
    ],
    ['empty brokers', { a: { brokers: ' , ' } }, /clusters\["a"\]\.brokers is empty/],
    ['a profile that is not a name', { a: { awsProfile: 3 } }, /awsProfile must be a profile name/],
  ])('refuses %s, naming the option', (_, raw, message) => {
    expect(() => clustersOf(raw)).toThrow(message);
  });
});

describe('connectionOf: how a mapping connects, as Lambda would', () => {
  const dir = mkdtempSync(join(tmpdir(), 'connection-'));
  let certificates: TestCertificates;
  let secrets: InstanceType<typeof SecretStore>;
  beforeAll(() => {
    certificates = makeCertificates(join(dir, 'tls'));
    const file = join(dir, 'secrets.json');
    writeFileSync(
      file,
      JSON.stringify({
        [secret('user')]: { username: 'bruno', password: 'bruno-secret' },
        [secret('ca')]: { certificate: certificates.caPem },
        [secret('cert')]: certificates.client,
      }),
    );
    secrets = new SecretStore({ file, variable: undefined });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const kafkaMapping = (access: Partial<Access>, servers = ['pkc-1.example:9092']) =>
    testMapping({
      source: { kind: 'kafka' },
      bootstrapServers: servers,
      access: { ...NONE, ...access },
    });
  const mskMapping = (access: Partial<Access> = {}) =>
    testMapping({ source: { kind: 'msk', arn: CLUSTER_ARN }, access: { ...NONE, ...access } });
  const listed = (entries: Record<string, Partial<ClusterOption>>) => clustersOf(entries);
  const connect = (mapping: ReturnType<typeof testMapping>, clusters: Map<string, ClusterOption>) =>
    connectionOf(mapping, { brokers: LOCAL, clusters, secrets });

  it('reads the plugin’s brokers in plaintext for a cluster not listed, naming the settings it leaves out', () => {
    const connection = connect(
      kafkaMapping({
        sasl: { type: 'SASL_SCRAM_512_AUTH', secretArn: secret('absent') },
        serverRootCa: secret('absent-ca'),
      }),
      listed({}),
    );
    expect(connection).toMatchObject({ brokers: LOCAL, method: 'plaintext', kafka: {} });
    expect(connection.ignored).toEqual(['SASL_SCRAM_512_AUTH', 'SERVER_ROOT_CA_CERTIFICATE']);
  });

  it.each([
    ['BASIC_AUTH', 'plain'],
    ['SASL_SCRAM_256_AUTH', 'scram-sha-256'],
    ['SASL_SCRAM_512_AUTH', 'scram-sha-512'],
  ] as const)(
    'connects %s as SASL %s over TLS, trusting the root CA secret, at the event’s own servers',
    (type, mechanism) => {
      const connection = connect(
        kafkaMapping({ sasl: { type, secretArn: secret('user') }, serverRootCa: secret('ca') }, [
          'b-1:9096',
          'pkc-1.example:9092',
        ]),
        listed({ 'pkc-1.example:9092': {} }),
      );
      expect(connection.method).toBe('sasl');
      expect(connection.brokers).toEqual(['b-1:9096', 'pkc-1.example:9092']);
      expect(connection.kafka).toMatchObject({
        ssl: { ca: [certificates.caPem] },
        sasl: { mechanism, username: 'bruno', password: 'bruno-secret' },
      });
      expect(connection.label).toContain(type);
      expect(connection.label).not.toContain('bruno-secret');
    },
  );

  it('trusts Node’s public CAs (Lambda’s trust store) without a root CA secret', () => {
    const connection = connect(
      kafkaMapping({ sasl: { type: 'BASIC_AUTH', secretArn: secret('user') } }),
      listed({ 'pkc-1.example:9092': {} }),
    );
    expect(connection.kafka.ssl).toBe(true);
  });

  it('connects a client certificate as mutual TLS', () => {
    const connection = connect(
      kafkaMapping({ clientCertificate: secret('cert'), serverRootCa: secret('ca') }),
      listed({ 'pkc-1.example:9092': { brokers: ['b-1:9094'] } }),
    );
    expect(connection).toMatchObject({ method: 'mtls', brokers: ['b-1:9094'] });
    expect(connection.kafka.ssl).toEqual({
      ca: [certificates.caPem],
      cert: certificates.client.certificate,
      key: certificates.client.privateKey,
    });
  });

  it('connects with TLS and no authentication when only a root CA is given, in plaintext when nothing is', () => {
    const clusters = listed({ 'pkc-1.example:9092': {} });
    expect(connect(kafkaMapping({ serverRootCa: secret('ca') }), clusters).method).toBe('tls');
    expect(connect(kafkaMapping({}), clusters).method).toBe('plaintext');
  });

  it('lets mappings with the same cluster and secrets share a client, and no others', () => {
    const clusters = listed({ 'pkc-1.example:9092': {} });
    const key = (access: Partial<Access>) => connect(kafkaMapping(access), clusters).key;
    const scram = { sasl: { type: 'SASL_SCRAM_512_AUTH', secretArn: secret('user') } } as const;
    expect(key(scram)).toBe(key(scram));
    expect(key(scram)).not.toBe(key({ ...scram, serverRootCa: secret('ca') }));
    expect(key(scram)).not.toBe(key({ clientCertificate: secret('cert') }));
  });

  describe('an msk event: "How Lambda chooses a bootstrap broker"', () => {
    it('uses a SASL/SCRAM secret whatever the cluster has active', () => {
      const connection = connect(
        mskMapping({ sasl: { type: 'SASL_SCRAM_512_AUTH', secretArn: secret('user') } }),
        listed({ [CLUSTER_ARN]: { brokers: ['b-1:9096'], auth: 'iam' } }),
      );
      expect(connection.kafka.sasl).toMatchObject({ mechanism: 'scram-sha-512' });
    });

    it('signs IAM tokens for the ARN’s region with the cluster’s profile when there is no secret and IAM is active', async () => {
      const signed: unknown[] = [];
      const connection = connectionOf(mskMapping(), {
        brokers: LOCAL,
        clusters: listed({
          [CLUSTER_ARN]: { brokers: ['b-1:9098'], auth: 'iam', awsProfile: 'dev' },
        }),
        secrets,
        sign: async (options) => {
          signed.push(options);
          return { token: 'signed-token', expiryTime: Date.now() + 900_000 };
        },
      });
      expect(connection).toMatchObject({
        method: 'iam',
        brokers: ['b-1:9098'],
        kafka: { ssl: true },
      });
      const sasl = connection.kafka.sasl as {
        mechanism: string;
        oauthBearerProvider: () => Promise<unknown>;
      };
      expect(sasl.mechanism).toBe('oauthbearer');
      expect(await sasl.oauthBearerProvider()).toEqual({ value: 'signed-token' });
      expect(signed).toEqual([{ region: 'eu-west-1', awsProfileName: 'dev' }]);
    });

    it.each([
      ['tls', 'tls'],
      ['plaintext', 'plaintext'],
    ] as const)(
      'connects with %s when that is what the cluster has active and there is no secret',
      (auth, method) => {
        expect(
          connect(mskMapping(), listed({ [CLUSTER_ARN]: { brokers: ['b-1:9094'], auth } })).method,
        ).toBe(method);
      },
    );

    it('refuses a listed msk cluster without brokers: offline has no GetBootstrapBrokers', () => {
      expect(() => connect(mskMapping(), listed({ [CLUSTER_ARN]: { auth: 'iam' } }))).toThrow(
        MappingError,
      );
    });
  });

  it('refuses a mapping whose secret is missing offline', () => {
    expect(() =>
      connect(
        kafkaMapping({ sasl: { type: 'BASIC_AUTH', secretArn: secret('absent') } }),
        listed({ 'pkc-1.example:9092': {} }),
      ),
    ).toThrow(SecretError);
  });
});

describe('iamTokenProvider', () => {
  it('signs once, reuses the token until a minute before it expires, and shares a signing in flight', async () => {
    let now = 0;
    let signings = 0;
    const provide = iamTokenProvider(
      'eu-west-1',
      undefined,
      async () => {
        signings += 1;
        return { token: `t${signings}`, expiryTime: now + 900_000 };
      },
      () => now,
    );
    expect(await Promise.all([provide(), provide()])).toEqual([{ value: 't1' }, { value: 't1' }]);
    now = 839_000;
    expect(await provide()).toEqual({ value: 't1' });
    now = 840_000;
    expect(await provide()).toEqual({ value: 't2' });
    expect(signings).toBe(2);
  });

  it('gets a real token from aws-msk-iam-sasl-signer-js with a profile: a presigned kafka-cluster:Connect for the region', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aws-'));
    const saved = {
      config: process.env.AWS_CONFIG_FILE,
      credentials: process.env.AWS_SHARED_CREDENTIALS_FILE,
    };
    try {
      writeFileSync(join(dir, 'config'), '[profile offline-test]\nregion = eu-west-1\n');
      writeFileSync(
        join(dir, 'credentials'),
        '[offline-test]\naws_access_key_id = AKIAOFFLINETEST00001\naws_secret_access_key = offlineTestSecret0000000000000000000000000\n',
      );
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
      const { connectionOf: connectWith, clustersOf: clusters } = await import(
        '../src/connection.js'
      );
      const connection = connectWith(testMapping({ source: { kind: 'msk', arn: CLUSTER_ARN } }), {
        brokers: LOCAL,
        clusters: clusters({
          [CLUSTER_ARN]: { brokers: 'b-1:9098', auth: 'iam', awsProfile: 'offline-test' },
        }),
        secrets: new SecretStore({ file: join(dir, 'none.json'), variable: undefined }),
      });
      const sasl = connection.kafka.sasl as {
        oauthBearerProvider: () => Promise<{ value: string }>;
      };
      const { value } = await sasl.oauthBearerProvider();
      const url = new URL(Buffer.from(value, 'base64url').toString('utf8'));
      expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
      expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(
        /^AKIAOFFLINETEST00001\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
      );
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      for (const [name, value] of [
        ['AWS_CONFIG_FILE', saved.config],
        ['AWS_SHARED_CREDENTIALS_FILE', saved.credentials],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('refusalOf: what the cluster refused, in AWS’s words', () => {
  const connection = (method: Connection['method']): Connection => ({
    key: '',
    brokers: ['b:1'],
    method,
    label: `LABEL(${method})`,
    kafka: {},
    ignored: [],
  });
  /** An error as kafkajs throws it with retries off: NumberOfRetriesExceeded around the cause. */
  const kafkajs = (name: string, message: string, code?: string) => {
    const cause = Object.assign(new Error(message), { name, code });
    return Object.assign(new Error(message), { name: 'KafkaJSNumberOfRetriesExceeded', cause });
  };

  it.each([
    [
      'a refused password',
      'sasl',
      kafkajs('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed: bad'),
      'SASL authentication failed (LABEL(sasl)): SASL SCRAM SHA512 authentication failed: bad',
    ],
    [
      'a server certificate no trusted CA signed',
      'sasl',
      kafkajs(
        'KafkaJSConnectionError',
        'Connection error: self-signed certificate in certificate chain',
        'SELF_SIGNED_CERT_IN_CHAIN',
      ),
      'Lambda failed to authenticate server: SELF_SIGNED_CERT_IN_CHAIN, self-signed certificate in certificate chain (LABEL(sasl)); for a private CA, give the mapping a SERVER_ROOT_CA_CERTIFICATE secret',
    ],
    [
      'a certificate without the broker’s name ("Hostname validation failed")',
      'tls',
      kafkajs(
        'KafkaJSConnectionError',
        "Connection error: Hostname/IP does not match certificate's altnames",
        'ERR_TLS_CERT_ALTNAME_INVALID',
      ),
      "Lambda failed to authenticate server: ERR_TLS_CERT_ALTNAME_INVALID, Hostname/IP does not match certificate's altnames (LABEL(tls)); for a private CA, give the mapping a SERVER_ROOT_CA_CERTIFICATE secret",
    ],
    [
      'a client certificate the broker does not trust',
      'mtls',
      kafkajs(
        'KafkaJSConnectionError',
        'Connection error: alert',
        'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
      ),
      'Server failed to authenticate Lambda: the broker refused the client certificate (ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN; LABEL(mtls))',
    ],
    [
      'no client certificate where one is required',
      'tls',
      kafkajs(
        'KafkaJSConnectionError',
        'Connection error: alert',
        'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
      ),
      'Server failed to authenticate Lambda: the broker refused a connection without a client certificate (ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE; LABEL(tls))',
    ],
    [
      'an IAM token (kafkajs takes the refusal for a success, then finds no broker)',
      'iam',
      kafkajs('KafkaJSBrokerNotFound', 'No brokers in the broker pool'),
      'SASL authentication failed (LABEL(iam)): the broker refused the IAM token (it closed the connection after the SASL exchange). Only Amazon MSK verifies IAM tokens; a broker that is not MSK refuses them',
    ],
  ] as const)('reports %s', (_, method, error, message) => {
    const refusal = refusalOf(error, connection(method), 'kafka');
    expect(refusal).toBeInstanceOf(AuthenticationError);
    expect(refusal?.message).toBe(message);
    expect(refusal?.cause).toBe(error);
  });

  it('tells an msk mapping that MSK uses public CAs, and how to trust a local one', () => {
    const error = kafkajs(
      'KafkaJSConnectionError',
      'Connection error: x',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    );
    expect(refusalOf(error, connection('iam'), 'msk')?.message).toMatch(
      /Amazon MSK uses certificates of public CAs; offline, NODE_EXTRA_CA_CERTS makes Node trust a local CA$/,
    );
  });

  it.each([
    [
      'a broker not up yet',
      kafkajs('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED', 'ECONNREFUSED'),
      'sasl',
    ],
    [
      'a name that does not resolve',
      kafkajs('KafkaJSConnectionError', 'Connection error: getaddrinfo ENOTFOUND', 'ENOTFOUND'),
      'sasl',
    ],
    [
      'no broker in the pool, without IAM',
      kafkajs('KafkaJSBrokerNotFound', 'No brokers in the broker pool'),
      'sasl',
    ],
    ['something else entirely', new Error('boom'), 'mtls'],
  ] as const)('leaves %s to the source’s retries', (_, error, method) => {
    expect(refusalOf(error, connection(method), 'kafka')).toBeUndefined();
  });
});
