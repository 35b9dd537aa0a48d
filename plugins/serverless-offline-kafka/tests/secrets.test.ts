import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type TestCertificates } from '../../../tests/helpers/certificates.js';
import { SECRETS_VARIABLE, SecretStore } from '../src/secrets.js';
import { pluginErrors } from './support.js';

const { SecretError } = pluginErrors;

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf';
const OTHER = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf';

/** What `run` throws, as a string (the SecretError's name and message). */
const thrown = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return String(error);
  }
  throw new Error('expected a SecretError');
};

describe('SecretStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  let certificates: TestCertificates;
  let files = 0;
  beforeAll(() => {
    certificates = makeCertificates(join(dir, 'tls'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A store whose file holds `secrets` (no file when undefined), and whose variable holds `variable`. */
  const store = (secrets: unknown, variable?: unknown) => {
    files += 1;
    const file = join(dir, `secrets-${files}.json`);
    if (secrets !== undefined)
      writeFileSync(file, typeof secrets === 'string' ? secrets : JSON.stringify(secrets));
    return {
      file,
      secrets: new SecretStore({
        file,
        variable: variable === undefined ? undefined : JSON.stringify(variable),
      }),
    };
  };
  const sasl = { username: 'bruno', password: 'bruno-secret' };

  describe('where secrets come from', () => {
    it('reads a secret from the file, keyed by ARN', () => {
      expect(store({ [ARN]: sasl }).secrets.sasl(ARN, 'BASIC_AUTH')).toEqual(sasl);
    });

    it(`reads ${SECRETS_VARIABLE}, which wins over the file for an ARN both hold`, () => {
      const { secrets } = store(
        { [ARN]: { username: 'file', password: 'f' }, [OTHER]: { username: 'o', password: 'o' } },
        { [ARN]: { username: 'variable', password: 'v' } },
      );
      expect(secrets.sasl(ARN, 'BASIC_AUTH').username).toBe('variable');
      expect(secrets.sasl(OTHER, 'BASIC_AUTH').username).toBe('o');
    });

    it('reads a value given as Secrets Manager’s SecretString (JSON text)', () => {
      const { secrets } = store({ [ARN]: JSON.stringify(sasl) });
      expect(secrets.sasl(ARN, 'SASL_SCRAM_256_AUTH')).toEqual(sasl);
    });

    it('names the ARN, its type and both places to set it for a secret set nowhere', () => {
      const { file, secrets } = store(undefined);
      expect(thrown(() => secrets.sasl(ARN, 'SASL_SCRAM_512_AUTH'))).toBe(
        `SecretError: the secret ${ARN} (SASL_SCRAM_512_AUTH) is not set offline: add it to ${file} or ${SECRETS_VARIABLE} (see the plugin's README, "Secured clusters")`,
      );
    });

    it('reads its sources only when a secret is needed, so that a broken file stops only the mappings that use it', () => {
      const { file, secrets } = store('{"arn": "password-in-a-broken-file"');
      expect(thrown(() => secrets.sasl(ARN, 'BASIC_AUTH'))).toBe(
        `SecretError: ${file} is not JSON: it holds an object keyed by secret ARN`,
      );
    });

    it.each([
      ['a JSON list', ['x'], /must hold a JSON object keyed by secret ARN/],
      [
        'a value that is neither an object nor JSON text',
        { [ARN]: 'password' },
        /is a string that is not JSON/,
      ],
      ['a value that is JSON but not an object', { [ARN]: 42 }, /must be a JSON object/],
    ])('refuses %s, quoting none of it', (_, secrets, message) => {
      const error = thrown(() => store(secrets).secrets.sasl(ARN, 'BASIC_AUTH'));
      expect(error).toMatch(message);
      expect(error).not.toContain('password"');
    });
  });

  describe('SASL secrets: "store the user name and password as a secret"', () => {
    it.each(['username', 'password'])(
      'refuses a secret without %s, naming the field only',
      (field) => {
        const incomplete = { ...sasl, [field]: '' };
        const error = thrown(() => store({ [ARN]: incomplete }).secrets.sasl(ARN, 'BASIC_AUTH'));
        expect(error).toBe(`SecretError: the secret ${ARN} (BASIC_AUTH) has no ${field}`);
        expect(error).not.toContain(sasl.password);
      },
    );
  });

  describe('client certificate secrets (CLIENT_CERTIFICATE_TLS_AUTH)', () => {
    const client = () => certificates.client;

    it('reads the certificate chain and a PKCS #8 private key', () => {
      expect(store({ [ARN]: client() }).secrets.clientCertificate(ARN)).toEqual({
        ...client(),
        privateKeyPassword: undefined,
      });
    });

    it('reads a key encrypted with a PBES1 algorithm, with its privateKeyPassword', () => {
      const secret = {
        certificate: client().certificate,
        privateKey: certificates.encryptedKeys.pbes1,
        privateKeyPassword: certificates.encryptedKeys.password,
      };
      expect(store({ [ARN]: secret }).secrets.clientCertificate(ARN).privateKeyPassword).toBe(
        certificates.encryptedKeys.password,
      );
    });

    it('refuses a key encrypted with PBES2: "Lambda supports the PBES1 (but not PBES2) private key encryption algorithms"', () => {
      const secret = {
        certificate: client().certificate,
        privateKey: certificates.encryptedKeys.pbes2,
        privateKeyPassword: certificates.encryptedKeys.password,
      };
      expect(thrown(() => store({ [ARN]: secret }).secrets.clientCertificate(ARN))).toMatch(
        /privateKey is encrypted with PBES2; "Lambda supports the PBES1 \(but not PBES2\) private key encryption algorithms"/,
      );
    });

    it('refuses an encrypted key without privateKeyPassword ("the secret requires a private key password")', () => {
      const secret = {
        certificate: client().certificate,
        privateKey: certificates.encryptedKeys.pbes1,
      };
      expect(thrown(() => store({ [ARN]: secret }).secrets.clientCertificate(ARN))).toMatch(
        /an encrypted privateKey needs privateKeyPassword/,
      );
    });

    it('refuses a key that is not PKCS #8 (a PKCS #1 "BEGIN RSA PRIVATE KEY")', () => {
      const pkcs1 = client().privateKey.replace(/PRIVATE KEY/g, 'RSA PRIVATE KEY');
      const secret = { certificate: client().certificate, privateKey: pkcs1 };
      expect(thrown(() => store({ [ARN]: secret }).secrets.clientCertificate(ARN))).toMatch(
        /privateKey must be in PKCS #8 format/,
      );
    });

    it.each([
      [
        'a wrong privateKeyPassword',
        () => ({
          certificate: certificates.client.certificate,
          privateKey: certificates.encryptedKeys.pbes1,
          privateKeyPassword: 'not-it',
        }),
      ],
      [
        'a key that is not the certificate’s',
        () => ({
          certificate: certificates.client.certificate,
          privateKey: certificates.untrustedClient.privateKey,
        }),
      ],
      [
        'a certificate that is not PEM',
        () => ({ certificate: 'certificate', privateKey: certificates.client.privateKey }),
      ],
    ])('refuses %s as AWS does: "Provided certificate or private key is invalid"', (_, secret) => {
      const error = thrown(() => store({ [ARN]: secret() }).secrets.clientCertificate(ARN));
      expect(error).toMatch(/Provided certificate or private key is invalid \(\w+/);
      expect(error).not.toContain(certificates.client.privateKey.split('\n')[1]);
    });
  });

  describe('server root CA secrets (SERVER_ROOT_CA_CERTIFICATE)', () => {
    it('reads the root CA certificate', () => {
      const secret = { certificate: certificates.caPem };
      expect(store({ [ARN]: secret }).secrets.serverRootCa(ARN)).toEqual(secret);
    });

    it('refuses one without a PEM certificate', () => {
      expect(
        thrown(() => store({ [ARN]: { certificate: 'x' } }).secrets.serverRootCa(ARN)),
      ).toMatch(/certificate is not a PEM certificate/);
      expect(thrown(() => store({ [ARN]: {} }).secrets.serverRootCa(ARN))).toMatch(
        /has no certificate/,
      );
    });
  });
});
