import { describe, expect, it } from 'vitest';
import { accessOf, compiledAccess } from '../src/access.js';
import { pluginErrors } from './support.js';

const { MappingError } = pluginErrors;

const secret = (name: string, region = 'eu-west-1') =>
  `arn:aws:secretsmanager:${region}:123456789012:secret:${name}-AbCdEf`;
const kafka = { kind: 'kafka', region: 'eu-west-1' } as const;
const msk = { kind: 'msk', region: 'eu-west-1' } as const;

describe('compiledAccess: the SourceAccessConfigurations the framework writes', () => {
  it('writes one entry per ARN of each kafka accessConfigurations key, VPC ids prefixed', () => {
    expect(
      compiledAccess(
        {
          accessConfigurations: {
            saslPlainAuth: [secret('plain')],
            saslScram256Auth: [secret('s256')],
            saslScram512Auth: [secret('s512')],
            clientCertificateTlsAuth: [secret('cert')],
            serverRootCaCertificate: [secret('ca')],
            vpcSubnet: ['subnet-1', 'subnet-2'],
            vpcSecurityGroup: ['sg-1'],
          },
        },
        'kafka',
      ),
    ).toEqual([
      { Type: 'BASIC_AUTH', URI: secret('plain') },
      { Type: 'SASL_SCRAM_256_AUTH', URI: secret('s256') },
      { Type: 'SASL_SCRAM_512_AUTH', URI: secret('s512') },
      { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: secret('cert') },
      { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: secret('ca') },
      { Type: 'VPC_SUBNET', URI: 'subnet:subnet-1' },
      { Type: 'VPC_SUBNET', URI: 'subnet:subnet-2' },
      { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-1' },
    ]);
  });

  it('writes an msk event’s saslScram512 as SASL_SCRAM_512_AUTH, and nothing without it', () => {
    expect(compiledAccess({ saslScram512: secret('s512') }, 'msk')).toEqual([
      { Type: 'SASL_SCRAM_512_AUTH', URI: secret('s512') },
    ]);
    expect(compiledAccess({}, 'msk')).toBeUndefined();
    expect(compiledAccess({}, 'kafka')).toBeUndefined();
  });
});

describe('accessOf: SourceAccessConfigurations validated as AWS validates them', () => {
  const one = (Type: string, URI: string) => [{ Type, URI }];

  it('names no authentication without SourceAccessConfigurations, or with VPC entries only', () => {
    const none = { sasl: undefined, clientCertificate: undefined, serverRootCa: undefined };
    expect(accessOf(undefined, kafka)).toEqual(none);
    expect(
      accessOf(
        [
          { Type: 'VPC_SUBNET', URI: 'subnet:subnet-1' },
          { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-1' },
        ],
        kafka,
      ),
    ).toEqual(none);
  });

  it.each([['BASIC_AUTH'], ['SASL_SCRAM_256_AUTH'], ['SASL_SCRAM_512_AUTH']])(
    'reads %s as SASL with its secret',
    (type) => {
      expect(accessOf(one(type, secret('s')), kafka).sasl).toEqual({
        type,
        secretArn: secret('s'),
      });
    },
  );

  it('reads a client certificate and a server root CA together', () => {
    expect(
      accessOf(
        [
          { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: secret('cert') },
          { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: secret('ca') },
        ],
        kafka,
      ),
    ).toEqual({ sasl: undefined, clientCertificate: secret('cert'), serverRootCa: secret('ca') });
  });

  it.each([
    ['BASIC_AUTH', 'Amazon MSK doesn’t support SASL/PLAIN'],
    ['SASL_SCRAM_256_AUTH', 'SCRAM-256 is self-managed only'],
    ['SERVER_ROOT_CA_CERTIFICATE', 'Amazon MSK doesn’t support self-signed server certificates'],
    ['VPC_SUBNET', 'VPC settings are self-managed only'],
  ])('refuses %s on an msk event (%s)', (type) => {
    expect(() => accessOf(one(type, secret('s')), msk)).toThrow(
      /is for self-managed Apache Kafka only; an msk event takes SASL_SCRAM_512_AUTH or CLIENT_CERTIFICATE_TLS_AUTH/,
    );
  });

  it('on msk, uses the mTLS secret over the SASL/SCRAM one ("How Lambda chooses a bootstrap broker")', () => {
    expect(
      accessOf(
        [
          { Type: 'SASL_SCRAM_512_AUTH', URI: secret('s512') },
          { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: secret('cert') },
        ],
        msk,
      ),
    ).toEqual({ sasl: undefined, clientCertificate: secret('cert'), serverRootCa: undefined });
  });

  it.each([
    [
      'two SASL methods',
      [
        { Type: 'BASIC_AUTH', URI: secret('a') },
        { Type: 'SASL_SCRAM_512_AUTH', URI: secret('b') },
      ],
      /give one authentication method/,
    ],
    [
      'SASL and a client certificate on self-managed Kafka',
      [
        { Type: 'SASL_SCRAM_256_AUTH', URI: secret('a') },
        { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: secret('b') },
      ],
      /give one authentication method/,
    ],
    [
      'one type twice',
      [
        { Type: 'SASL_SCRAM_512_AUTH', URI: secret('a') },
        { Type: 'SASL_SCRAM_512_AUTH', URI: secret('b') },
      ],
      /SASL_SCRAM_512_AUTH is given twice/,
    ],
    ['an unknown type', one('KERBEROS', secret('a')), /Type must be one of BASIC_AUTH, /],
    ['RabbitMQ’s VIRTUAL_HOST', one('VIRTUAL_HOST', 'vh'), /Type must be one of/],
    [
      'a URI that is not a secret ARN',
      one('BASIC_AUTH', 'my-secret'),
      /must be a Secrets Manager ARN/,
    ],
    [
      'a CloudFormation reference',
      [{ Type: 'BASIC_AUTH', URI: { Ref: 'Secret' } }],
      /a CloudFormation reference cannot be resolved offline/,
    ],
    [
      'a secret in another region ("secrets must be stored in the same AWS region as your Lambda function")',
      one('BASIC_AUTH', secret('a', 'us-east-1')),
      /is a secret in us-east-1, but the function is in eu-west-1/,
    ],
    ['a list that is not a list', { Type: 'BASIC_AUTH' }, /must be a list/],
  ])('refuses %s', (_, configurations, message) => {
    let thrown: unknown;
    try {
      accessOf(configurations, kafka);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MappingError);
    expect(String(thrown)).toMatch(message);
  });
});
