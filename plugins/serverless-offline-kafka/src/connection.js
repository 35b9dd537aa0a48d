// @ts-check
'use strict';

const { Kafka, logLevel } = require('kafkajs');
const { AuthenticationError, MappingError } = require('./errors');
const { isObject, withTimeout } = require('./util');

/**
 * How a mapping connects to its cluster, as Lambda's event source mapping would for the event's
 * own settings, and a check at start that the cluster accepts it.
 *
 * A mapping reads the plugin's `brokers` in plaintext (the local broker) unless its cluster is
 * listed in the plugin's `clusters` option, keyed by the `msk` event's `arn` or by one of the
 * `kafka` event's `bootstrapServers`. A listed cluster is read at its `brokers` (for a `kafka`
 * event, by default its own `bootstrapServers`), authenticated as AWS would:
 * - `kafka` events (kafka-cluster-auth): SASL/PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 over TLS
 *   ("Lambda doesn't support SASL/SCRAM with plaintext"; SASL/PLAIN "must use TLS encryption"),
 *   or mutual TLS with the client certificate secret; the server's certificate is checked
 *   against the SERVER_ROOT_CA_CERTIFICATE secret if there is one, else against the public CAs
 *   Node trusts (Lambda's trust store). A root CA alone is TLS without authentication; no
 *   authentication at all is plaintext (our reading: no page says).
 * - `msk` events (msk-cluster-auth, "How Lambda chooses a bootstrap broker"): "mTLS (secret
 *   provided for mTLS)", then "SASL/SCRAM (secret provided for SASL/SCRAM)", then "SASL IAM (no
 *   secret provided, and IAM auth active)", "Unauthenticated TLS (no secret provided, and IAM
 *   auth not active)", then plaintext. What is active on the cluster cannot be asked offline:
 *   the cluster's `auth` (`iam`, `tls` or `plaintext`) says it. IAM tokens are signed by
 *   `aws-msk-iam-sasl-signer-js` for the ARN's region, with the cluster's `awsProfile` or AWS's
 *   default credentials.
 *
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {InstanceType<typeof import('./secrets').SecretStore>} SecretStore
 * @typedef {'iam' | 'tls' | 'plaintext'} ClusterAuth
 * @typedef {{ brokers: string[] | undefined, auth: ClusterAuth, awsProfile: string | undefined }} ClusterOption
 * @typedef {'plaintext' | 'tls' | 'sasl' | 'mtls' | 'iam'} Method
 * @typedef {{
 *   key: string,
 *   brokers: string[],
 *   method: Method,
 *   label: string,
 *   kafka: Pick<import('kafkajs').KafkaConfig, 'ssl' | 'sasl' | 'connectionTimeout'>,
 *   ignored: string[],
 * }} Connection `key`: mappings with the same key share one kafkajs client; `label`: how it
 *   connects, for log lines; `ignored`: access settings a cluster not in `clusters` leaves out.
 * @typedef {(options: { region: string, awsProfileName: string | undefined }) => Promise<{ token: string, expiryTime: number }>} SignToken
 */

/** What `auth` a listed cluster may say is active, for msk events without a secret. */
const CLUSTER_AUTHS = /** @type {const} */ (['iam', 'tls', 'plaintext']);

/** kafkajs's mechanism for each SASL type (API SourceAccessConfiguration). */
const MECHANISMS = /** @type {const} */ ({
  BASIC_AUTH: { mechanism: 'plain', label: 'SASL/PLAIN' },
  SASL_SCRAM_256_AUTH: { mechanism: 'scram-sha-256', label: 'SASL/SCRAM-SHA-256' },
  SASL_SCRAM_512_AUTH: { mechanism: 'scram-sha-512', label: 'SASL/SCRAM-SHA-512' },
});

/** A TLS handshake (and the broker's first answer) on a busy machine can take seconds. */
const TLS_CONNECTION_TIMEOUT_MS = 10_000;
/** How long the start-up check waits for the cluster before leaving it to the source's retries. */
const CHECK_TIMEOUT_MS = 20_000;
/** Renew an IAM token this long before it expires (they last 15 minutes). */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

/**
 * The plugin's `clusters` option, checked: keys are an msk event's ARN or a kafka event's
 * bootstrap server.
 * @param {unknown} raw
 * @returns {Map<string, ClusterOption>}
 */
const clustersOf = (raw) => {
  /** @type {Map<string, ClusterOption>} */
  const clusters = new Map();
  if (raw === undefined) return clusters;
  const at = 'custom.serverless-offline-kafka.clusters';
  if (!isObject(raw))
    throw new Error(`${at} must be an object keyed by cluster ARN or bootstrap server`);
  for (const [key, value] of Object.entries(raw)) {
    const entry = value ?? {};
    if (!isObject(entry)) throw new Error(`${at}["${key}"] must be an object`);
    const auth = entry.auth ?? 'plaintext';
    if (!CLUSTER_AUTHS.includes(/** @type {ClusterAuth} */ (auth))) {
      throw new Error(
        `${at}["${key}"].auth must be ${CLUSTER_AUTHS.join(', ')}; received ${JSON.stringify(auth)}`,
      );
    }
    const brokers = entry.brokers === undefined ? undefined : listOf(entry.brokers);
    if (brokers !== undefined && brokers.length === 0)
      throw new Error(`${at}["${key}"].brokers is empty`);
    if (entry.awsProfile !== undefined && typeof entry.awsProfile !== 'string')
      throw new Error(`${at}["${key}"].awsProfile must be a profile name`);
    clusters.set(key, {
      brokers,
      auth: /** @type {ClusterAuth} */ (auth),
      awsProfile: /** @type {string | undefined} */ (entry.awsProfile),
    });
  }
  return clusters;
};

/** @param {unknown} value a list, or a comma-separated string */
const listOf = (value) =>
  (Array.isArray(value) ? value : String(value).split(','))
    .map((b) => String(b).trim())
    .filter(Boolean);

/**
 * How `mapping` connects. Throws MappingError or SecretError (the mapping is not started) for a
 * setting that cannot work offline: a listed msk cluster without brokers, a secret missing or
 * unusable, IAM without its signer.
 * @param {Mapping} mapping
 * @param {{ brokers: string[], clusters: Map<string, ClusterOption>, secrets: SecretStore, sign?: SignToken }} context
 * @returns {Connection}
 */
const connectionOf = (mapping, { brokers, clusters, secrets, sign }) => {
  const { access, source } = mapping;
  const own = mapping.bootstrapServers ?? [];
  const name =
    source.kind === 'msk'
      ? source.arn
      : [own.join(','), ...own].find((server) => server !== '' && clusters.has(server));
  const cluster = name === undefined ? undefined : clusters.get(name);
  if (!cluster) {
    const ignored = [
      access.sasl?.type,
      access.clientCertificate && 'CLIENT_CERTIFICATE_TLS_AUTH',
      access.serverRootCa && 'SERVER_ROOT_CA_CERTIFICATE',
    ].filter((type) => typeof type === 'string');
    return {
      key: JSON.stringify(['plaintext', brokers]),
      brokers,
      method: 'plaintext',
      label: 'plaintext',
      kafka: {},
      ignored,
    };
  }
  const at = cluster.brokers ?? (source.kind === 'kafka' ? own : undefined);
  if (!at || at.length === 0) {
    throw new MappingError(
      `clusters["${name}"] needs brokers: offline there is no GetBootstrapBrokers for an msk event`,
    );
  }
  const ca = access.serverRootCa
    ? [secrets.serverRootCa(access.serverRootCa).certificate]
    : undefined;
  const tls = ca ? { ca } : true;
  const base = { brokers: at, ignored: [] };
  /** @param {Method} method @param {string} label @param {unknown[]} identity @param {Connection['kafka']} kafka */
  const connection = (method, label, identity, kafka) => ({
    ...base,
    key: JSON.stringify([method, at, ...identity]),
    method,
    label: `${label} to ${at.join(',')}`,
    kafka: { connectionTimeout: TLS_CONNECTION_TIMEOUT_MS, ...kafka },
  });
  if (access.clientCertificate) {
    const secret = secrets.clientCertificate(access.clientCertificate);
    return connection(
      'mtls',
      `mutual TLS (CLIENT_CERTIFICATE_TLS_AUTH ${access.clientCertificate})`,
      [access.clientCertificate, access.serverRootCa],
      {
        ssl: {
          ...(ca ? { ca } : {}),
          cert: secret.certificate,
          key: secret.privateKey,
          ...(secret.privateKeyPassword === undefined
            ? {}
            : { passphrase: secret.privateKeyPassword }),
        },
      },
    );
  }
  if (access.sasl) {
    const { mechanism, label } = MECHANISMS[access.sasl.type];
    const { username, password } = secrets.sasl(access.sasl.secretArn, access.sasl.type);
    return connection(
      'sasl',
      `${label} over TLS (${access.sasl.type} ${access.sasl.secretArn})`,
      [access.sasl.secretArn, access.serverRootCa],
      {
        ssl: tls,
        sasl: /** @type {import('kafkajs').SASLOptions} */ ({ mechanism, username, password }),
      },
    );
  }
  if (source.kind === 'msk' && cluster.auth === 'iam') {
    const region = source.arn.split(':')[3] ?? '';
    const who = cluster.awsProfile ? `profile ${cluster.awsProfile}` : "AWS's default credentials";
    return connection(
      'iam',
      `IAM (tokens signed for ${region} with ${who})`,
      [cluster.awsProfile],
      {
        ssl: true,
        sasl: {
          mechanism: 'oauthbearer',
          oauthBearerProvider: iamTokenProvider(region, cluster.awsProfile, sign ?? loadSigner()),
        },
      },
    );
  }
  if (ca || (source.kind === 'msk' && cluster.auth === 'tls'))
    return connection('tls', 'TLS without authentication', [access.serverRootCa], { ssl: tls });
  return { ...connection('plaintext', 'plaintext', [], {}), kafka: {} };
};

/**
 * `aws-msk-iam-sasl-signer-js`, loaded when a mapping uses IAM (an optional peer dependency).
 * @returns {SignToken}
 */
const loadSigner = () => {
  /** @type {typeof import('aws-msk-iam-sasl-signer-js')} */
  let signer;
  try {
    signer = require('aws-msk-iam-sasl-signer-js');
  } catch {
    throw new MappingError(
      'IAM authentication needs aws-msk-iam-sasl-signer-js: npm install --save-dev aws-msk-iam-sasl-signer-js',
    );
  }
  return ({ region, awsProfileName }) =>
    awsProfileName
      ? signer.generateAuthTokenFromProfile({ region, awsProfileName })
      : signer.generateAuthToken({ region });
};

/**
 * kafkajs's OAUTHBEARER provider for MSK IAM: a token reused until a minute before it expires;
 * concurrent (re)authentications share one signing.
 * @param {string} region
 * @param {string | undefined} awsProfileName
 * @param {SignToken} sign
 * @param {() => number} [now]
 */
const iamTokenProvider = (region, awsProfileName, sign, now = Date.now) => {
  /** @type {{ token: string, expiryTime: number } | undefined} */
  let current;
  /** @type {Promise<{ token: string, expiryTime: number }> | undefined} */
  let pending;
  return async () => {
    if (!current || current.expiryTime - now() <= TOKEN_REFRESH_MARGIN_MS) {
      pending ??= sign({ region, awsProfileName }).finally(() => {
        pending = undefined;
      });
      current = await pending;
    }
    return { value: current.token };
  };
};

/** Node's codes for a server certificate Node does not trust. */
const UNTRUSTED_SERVER = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** OpenSSL's codes for a TLS alert that refuses the client's certificate (or its absence). */
const CLIENT_REFUSED = new Set([
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
]);

/**
 * Why the cluster refused `connection`, worded as AWS's event source mapping reports it
 * (LastProcessingResult: "SASL authentication failed", "Lambda failed to authenticate server",
 * "Server failed to authenticate Lambda"), or undefined for a failure that may pass (a broker
 * not up yet, a network that is down): those are left to the source, which retries.
 * @param {unknown} error what kafkajs threw while connecting
 * @param {Connection} connection
 * @param {Mapping['source']['kind']} kind
 * @returns {InstanceType<typeof AuthenticationError> | undefined}
 */
const refusalOf = (error, connection, kind) => {
  for (let e = error, depth = 0; e instanceof Error && depth < 6; depth++) {
    const { name, message } = e;
    const code = /** @type {{ code?: unknown }} */ (e).code;
    if (name === 'KafkaJSSASLAuthenticationError')
      return new AuthenticationError(
        `SASL authentication failed (${connection.label}): ${message}`,
        {
          cause: error,
        },
      );
    if (
      connection.method === 'iam' &&
      (name === 'KafkaJSBrokerNotFound' || name === 'KafkaJSConnectionClosedError')
    ) {
      return new AuthenticationError(
        `SASL authentication failed (${connection.label}): the broker refused the IAM token (it closed the connection after the SASL exchange). Only Amazon MSK verifies IAM tokens; a broker that is not MSK refuses them`,
        { cause: error },
      );
    }
    if (typeof code === 'string' && UNTRUSTED_SERVER.has(code)) {
      const hint =
        kind === 'msk'
          ? 'Amazon MSK uses certificates of public CAs; offline, NODE_EXTRA_CA_CERTS makes Node trust a local CA'
          : 'for a private CA, give the mapping a SERVER_ROOT_CA_CERTIFICATE secret';
      return new AuthenticationError(
        `Lambda failed to authenticate server: ${code}, ${message.replace(/^Connection error: /, '')} (${connection.label}); ${hint}`,
        { cause: error },
      );
    }
    if (typeof code === 'string' && CLIENT_REFUSED.has(code)) {
      return new AuthenticationError(
        `Server failed to authenticate Lambda: the broker refused ${connection.method === 'mtls' ? 'the client certificate' : 'a connection without a client certificate'} (${code}; ${connection.label})`,
        { cause: error },
      );
    }
    e =
      /** @type {{ cause?: unknown, originalError?: unknown }} */ (e).cause ??
      /** @type {{ originalError?: unknown }} */ (e).originalError;
  }
  return undefined;
};

/**
 * Connects once to a secured cluster, without kafkajs's retries, so that credentials or
 * certificates the cluster refuses stop the mapping at start with a message saying so (kafkajs
 * alone takes 8 to 10 s of retries to give up on a certificate, then reconnects forever). Throws
 * AuthenticationError for a refusal; anything else (a broker not up yet) is left to the source's
 * retries. A plaintext connection is not checked: there is nothing to refuse.
 * @param {Connection} connection
 * @param {{ clientId: string, kind: Mapping['source']['kind'] }} options
 */
const checkConnection = async (connection, { clientId, kind }) => {
  if (connection.method === 'plaintext') return;
  const admin = new Kafka({
    clientId,
    brokers: connection.brokers,
    ...connection.kafka,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin({ retry: { retries: 0 } });
  try {
    const failure = await withTimeout(
      admin
        .connect()
        // A request after the handshake: a broker that refuses an OAUTHBEARER token answers the
        // SASL exchange without an error code (kafkajs takes it for a success) and closes the
        // connection at the next request.
        .then(() => admin.describeCluster())
        .then(
          () => undefined,
          (error) => refusalOf(error, connection, kind),
        ),
      CHECK_TIMEOUT_MS,
      undefined,
    );
    if (failure) throw failure;
  } finally {
    await withTimeout(admin.disconnect(), 5_000, undefined).catch(() => undefined);
  }
};

module.exports = {
  CLUSTER_AUTHS,
  checkConnection,
  clustersOf,
  connectionOf,
  iamTokenProvider,
  refusalOf,
};
