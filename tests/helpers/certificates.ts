import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Certificates made for a test run with openssl (PEM, keys in PKCS #8, as Kafka's PEM keystores
 * and AWS's secrets hold them): a CA, a broker certificate for 127.0.0.1 and localhost signed by
 * it, a client certificate it signed, and a second, unrelated CA with a client certificate of
 * its own (one the broker does not trust), plus the client key encrypted with PBES2 and with a
 * PBES1-style algorithm.
 */
export interface TestCertificates {
  readonly dir: string;
  /** The CA's certificate (the broker's truststore; a SERVER_ROOT_CA_CERTIFICATE secret). */
  readonly caPem: string;
  readonly caFile: string;
  /** The broker's key, certificate and CA in one file: Kafka's PEM keystore. */
  readonly brokerKeystoreFile: string;
  /** A client certificate (chain: client, CA) and its key, signed by the CA. */
  readonly client: { readonly certificate: string; readonly privateKey: string };
  /** The same key encrypted: PBES2 (AES-256-CBC), and PBES1's pbeWithSHA1And3-KeyTripleDES-CBC. */
  readonly encryptedKeys: {
    readonly pbes2: string;
    readonly pbes1: string;
    readonly password: string;
  };
  /** A client certificate (chain: client, other CA) from a CA the broker does not trust. */
  readonly untrustedClient: { readonly certificate: string; readonly privateKey: string };
  /** That other CA's certificate: a root CA that did not sign the broker's certificate. */
  readonly otherCaPem: string;
}

const openssl = (cwd: string, args: readonly string[]): void => {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(
        'openssl is needed to make the test certificates: install it (Debian: openssl)',
      );
    throw error;
  }
};

const DAYS = '2';

/** Makes a key and a certificate for `name`, signed by the CA in `ca` (`<ca>.pem`, `<ca>.key`). */
const signed = (dir: string, name: string, cn: string, ca: string, extensions: string): void => {
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    DAYS,
    '-extfile',
    `${name}.ext`,
  ]);
};

const selfSignedCa = (dir: string, name: string, cn: string): void => {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    DAYS,
    '-subj',
    `/CN=${cn}`,
  ]);
};

/** Makes every certificate in `dir` (created if need be). Takes about a second. */
export const makeCertificates = (dir: string): TestCertificates => {
  mkdirSync(dir, { recursive: true });
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  selfSignedCa(dir, 'ca', 'serverless-offline-kafka test CA');
  signed(
    dir,
    'broker',
    'localhost',
    'ca',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  writeFileSync(
    join(dir, 'broker-keystore.pem'),
    read('broker.key') + read('broker.crt') + read('ca.pem'),
  );
  signed(dir, 'client', 'lena', 'ca', 'extendedKeyUsage=clientAuth\n');
  selfSignedCa(dir, 'other-ca', 'another CA');
  signed(dir, 'stranger', 'stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const password = 'key-password';
  openssl(dir, [
    'pkcs8',
    '-topk8',
    '-in',
    'client.key',
    '-out',
    'client-pbes2.key',
    '-passout',
    `pass:${password}`,
  ]);
  openssl(dir, [
    'pkcs8',
    '-topk8',
    '-v1',
    'PBE-SHA1-3DES',
    '-in',
    'client.key',
    '-out',
    'client-pbes1.key',
    '-passout',
    `pass:${password}`,
  ]);
  return {
    dir,
    caPem: read('ca.pem'),
    caFile: join(dir, 'ca.pem'),
    brokerKeystoreFile: join(dir, 'broker-keystore.pem'),
    client: { certificate: read('client.crt') + read('ca.pem'), privateKey: read('client.key') },
    encryptedKeys: { pbes2: read('client-pbes2.key'), pbes1: read('client-pbes1.key'), password },
    untrustedClient: {
      certificate: read('stranger.crt') + read('other-ca.pem'),
      privateKey: read('stranger.key'),
    },
    otherCaPem: read('other-ca.pem'),
  };
};
