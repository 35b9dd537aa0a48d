import { GetBootstrapBrokersCommand, KafkaClient } from '@aws-sdk/client-kafka';
import type { GenerateAuthTokenResponse } from 'aws-msk-iam-sasl-signer-js';
import { mockClient } from 'aws-sdk-client-mock';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../shared/config.js';
import { NoIamBrokersError } from '../../shared/errors.js';
import {
  createKafka,
  kafkaConfig,
  LOCAL_BROKERS,
  regionOf,
  seedBrokers,
} from '../../shared/kafka/client.js';
import {
  createBrokerDiscovery,
  createMskTokenProvider,
  TOKEN_REFRESH_MARGIN_MS,
} from '../../shared/kafka/msk.js';
import { silentLogger } from '../helpers/logger.js';

const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const IAM_BROKERS =
  'b-1.notifications.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.notifications.abc123.c2.kafka.eu-west-1.amazonaws.com:9098';

const kafkaMock = mockClient(KafkaClient);

beforeEach(() => {
  kafkaMock.reset();
});

afterAll(() => {
  kafkaMock.restore();
});

/** A promise settled from outside, to hold a call in flight. */
const deferred = <T>() => {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const lookUps = () => kafkaMock.commandCalls(GetBootstrapBrokersCommand);

describe('createBrokerDiscovery', () => {
  const discovery = () =>
    createBrokerDiscovery(CLUSTER_ARN, () => new KafkaClient({ region: 'eu-west-1' }));

  it("asks for the cluster's IAM brokers once per container, however many lookups", async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    const brokers = discovery();
    for (let i = 0; i < 5; i++) {
      expect(await brokers()).toEqual(IAM_BROKERS.split(','));
    }
    expect(lookUps()).toHaveLength(1);
    expect(lookUps()[0]?.args[0].input).toEqual({ ClusterArn: CLUSTER_ARN });
  });

  it('shares one call between concurrent lookups', async () => {
    const answer = deferred<{ BootstrapBrokerStringSaslIam: string }>();
    kafkaMock.on(GetBootstrapBrokersCommand).callsFake(() => answer.promise);
    const brokers = discovery();
    const pending = Promise.all([brokers(), brokers(), brokers()]);
    answer.resolve({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    expect(await pending).toEqual([1, 2, 3].map(() => IAM_BROKERS.split(',')));
    expect(lookUps()).toHaveLength(1);
  });

  it('does not cache a failure: the next lookup asks again', async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .rejectsOnce(new Error('Rate exceeded'))
      .resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    const brokers = discovery();
    await expect(brokers()).rejects.toThrow('Rate exceeded');
    expect(await brokers()).toEqual(IAM_BROKERS.split(','));
    expect(await brokers()).toEqual(IAM_BROKERS.split(','));
    expect(lookUps()).toHaveLength(2);
  });

  it.each([
    ['no IAM broker string', {}],
    ['an empty IAM broker string', { BootstrapBrokerStringSaslIam: '' }],
    ['only TLS brokers', { BootstrapBrokerStringTls: 'b-1.example:9094' }],
  ])('fails clearly on %s (IAM auth off on the cluster)', async (_, answer) => {
    kafkaMock.on(GetBootstrapBrokersCommand).resolves(answer);
    const error = await discovery()().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoIamBrokersError);
    expect(String(error)).toContain('enable IAM authentication on it or set KAFKA_BROKERS');
  });

  it('trims and drops empty entries', async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: ' b-1.example:9098 ,,b-2.example:9098 ' });
    expect(await discovery()()).toEqual(['b-1.example:9098', 'b-2.example:9098']);
  });
});

describe('createMskTokenProvider', () => {
  const TOKEN_LIFETIME_MS = 15 * 60_000;

  /** A signer that counts signings; each token expires 15 minutes after the fake clock. */
  const setup = () => {
    let clock = 1_764_000_000_000;
    const signed: { region: string }[] = [];
    const sign = async (options: { region: string }): Promise<GenerateAuthTokenResponse> => {
      signed.push(options);
      return { token: `token-${signed.length}`, expiryTime: clock + TOKEN_LIFETIME_MS };
    };
    const provider = createMskTokenProvider('eu-west-1', sign, () => clock);
    return {
      provider,
      signed,
      advance: (ms: number) => {
        clock += ms;
      },
    };
  };

  it('signs once for the region and reuses the token until the refresh margin', async () => {
    const { provider, signed, advance } = setup();
    expect(await provider()).toEqual({ value: 'token-1' });
    advance(TOKEN_LIFETIME_MS - TOKEN_REFRESH_MARGIN_MS - 1);
    expect(await provider()).toEqual({ value: 'token-1' });
    expect(signed).toEqual([{ region: 'eu-west-1' }]);
  });

  it('signs a new token once within the refresh margin of expiry', async () => {
    const { provider, signed, advance } = setup();
    await provider();
    advance(TOKEN_LIFETIME_MS - TOKEN_REFRESH_MARGIN_MS);
    expect(await provider()).toEqual({ value: 'token-2' });
    expect(await provider()).toEqual({ value: 'token-2' });
    expect(signed).toHaveLength(2);
  });

  it('shares one signing between concurrent calls', async () => {
    const signing = deferred<GenerateAuthTokenResponse>();
    let calls = 0;
    const provider = createMskTokenProvider('eu-west-1', () => {
      calls++;
      return signing.promise;
    });
    const pending = Promise.all([provider(), provider(), provider()]);
    signing.resolve({ token: 'shared', expiryTime: Date.now() + TOKEN_LIFETIME_MS });
    expect(await pending).toEqual([1, 2, 3].map(() => ({ value: 'shared' })));
    expect(calls).toBe(1);
  });

  it('keeps a still-valid token when a refresh fails, and tries again on the next call', async () => {
    let clock = 0;
    const answers: (() => Promise<GenerateAuthTokenResponse>)[] = [
      async () => ({ token: 'first', expiryTime: clock + TOKEN_LIFETIME_MS }),
      async () => {
        throw new Error('credentials unavailable');
      },
      async () => ({ token: 'second', expiryTime: clock + TOKEN_LIFETIME_MS }),
    ];
    const provider = createMskTokenProvider(
      'eu-west-1',
      () => answers.shift()?.() ?? Promise.reject(new Error('unexpected signing')),
      () => clock,
    );
    expect(await provider()).toEqual({ value: 'first' });
    clock = TOKEN_LIFETIME_MS - TOKEN_REFRESH_MARGIN_MS / 2;
    expect(await provider()).toEqual({ value: 'first' });
    expect(await provider()).toEqual({ value: 'second' });
  });

  it('fails when signing fails and no valid token is left', async () => {
    const provider = createMskTokenProvider('eu-west-1', () =>
      Promise.reject(new Error('credentials unavailable')),
    );
    await expect(provider()).rejects.toThrow('credentials unavailable');
  });
});

describe('kafkaConfig', () => {
  const settings = (kafka: Partial<Config['kafka']>): Config['kafka'] => ({
    clientId: 'notifications',
    brokers: undefined,
    auth: 'iam',
    mskClusterArn: CLUSTER_ARN,
    region: undefined,
    sendTimeoutMs: 5000,
    ...kafka,
  });
  const fakeSign = () => {
    const regions: string[] = [];
    const sign = async ({ region }: { region: string }) => {
      regions.push(region);
      return { token: `signed-for-${region}`, expiryTime: Date.now() + 900_000 };
    };
    return { sign, regions };
  };
  const oauthbearer = (config: KafkaConfig) => {
    const sasl = config.sasl as Extract<SASLOptions, { mechanism: 'oauthbearer' }>;
    expect(sasl.mechanism).toBe('oauthbearer');
    return sasl.oauthBearerProvider;
  };

  it('wires TLS and OAUTHBEARER with MSK tokens, and looks the brokers up from the ARN', async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    const { sign, regions } = fakeSign();
    const config = kafkaConfig(settings({ region: 'eu-west-1' }), silentLogger(), { sign });
    expect(config.ssl).toBe(true);
    expect(await oauthbearer(config)()).toEqual({ value: 'signed-for-eu-west-1' });
    expect(regions).toEqual(['eu-west-1']);
    expect(typeof config.brokers).toBe('function');
    const brokers = config.brokers as () => Promise<string[]>;
    const sorted = IAM_BROKERS.split(',').sort();
    expect((await brokers()).sort()).toEqual(sorted);
    expect((await brokers()).sort()).toEqual(sorted);
    expect(lookUps()).toHaveLength(1);
  });

  it("signs and looks up in the cluster ARN's region when AWS_REGION is unset", async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    const { sign, regions } = fakeSign();
    const clientRegions: string[] = [];
    const config = kafkaConfig(settings({}), silentLogger(), {
      sign,
      mskClient: (region) => {
        clientRegions.push(region);
        return new KafkaClient({ region });
      },
    });
    await oauthbearer(config)();
    expect(regions).toEqual(['eu-west-1']);
    expect(clientRegions).toEqual([]);
    await (config.brokers as () => Promise<string[]>)();
    expect(clientRegions).toEqual(['eu-west-1']);
  });

  it('makes the MSK API client on the first lookup only, however many lookups', async () => {
    kafkaMock
      .on(GetBootstrapBrokersCommand)
      .resolves({ BootstrapBrokerStringSaslIam: IAM_BROKERS });
    let made = 0;
    const config = kafkaConfig(settings({ region: 'eu-west-1' }), silentLogger(), {
      sign: fakeSign().sign,
      mskClient: async (region) => {
        made += 1;
        return new KafkaClient({ region });
      },
    });
    expect(made).toBe(0);
    const brokers = config.brokers as () => Promise<string[]>;
    await Promise.all([brokers(), brokers()]);
    await brokers();
    expect(made).toBe(1);
  });

  it('uses an explicit broker list instead of the lookup', async () => {
    const config = kafkaConfig(settings({ brokers: ['b-1.example:9098'] }), silentLogger(), {
      sign: fakeSign().sign,
    });
    expect(await (config.brokers as () => Promise<string[]>)()).toEqual(['b-1.example:9098']);
    expect(config.ssl).toBe(true);
    expect(lookUps()).toHaveLength(0);
  });

  it('connects in plaintext to the local broker when auth is none', async () => {
    const config = kafkaConfig(
      settings({ auth: 'none', mskClusterArn: undefined }),
      silentLogger(),
    );
    expect(await (config.brokers as () => Promise<string[]>)()).toEqual([...LOCAL_BROKERS]);
    expect(config.ssl).toBeUndefined();
    expect(config.sasl).toBeUndefined();
  });

  it.each([
    [
      'no region and no ARN',
      { brokers: ['b-1.example:9098'], mskClusterArn: undefined },
      'AWS_REGION',
    ],
    ['no brokers and no ARN', { region: 'eu-west-1', mskClusterArn: undefined }, 'KAFKA_BROKERS'],
  ])('refuses IAM auth with %s', (_, kafka, name) => {
    expect(() => kafkaConfig(settings(kafka), silentLogger())).toThrow(name);
  });

  // kafkajs tries seeds in the order given, from the first, for each new producer (kafkajs#1607):
  // with the first broker down, a producer connecting without retries never reached the others.
  it('hands kafkajs the seed brokers in a new random order at each connection, every broker first in turn', async () => {
    const list = ['b-1:9092', 'b-2:9092', 'b-3:9092'];
    const config = kafkaConfig(
      settings({ auth: 'none', mskClusterArn: undefined, brokers: list }),
      silentLogger(),
    );
    const brokers = config.brokers as () => Promise<string[]>;
    const firsts = new Set<string | undefined>();
    for (let i = 0; i < 200; i++) {
      const order = await brokers();
      expect([...order].sort()).toEqual(list);
      firsts.add(order[0]);
    }
    expect(firsts).toEqual(new Set(list));
    // The looked-up list too.
    const discovered = seedBrokers(
      async () => list,
      () => 0.99,
    );
    expect((await discovered())[0]).toBe('b-1:9092');
    expect((await seedBrokers(list, () => 0)())[0]).toBe('b-2:9092');
  });

  it('checks the configuration at once, and makes one client however many calls', async () => {
    expect(() =>
      createKafka(settings({ region: 'eu-west-1', mskClusterArn: undefined }), silentLogger()),
    ).toThrow('KAFKA_BROKERS');
    const kafka = createKafka(settings({ auth: 'none', mskClusterArn: undefined }), silentLogger());
    const [a, b] = await Promise.all([kafka(), kafka()]);
    expect(a).toBe(b);
    expect(await kafka()).toBe(a);
  });

  it('builds a client without connecting', async () => {
    const kafka = await createKafka(settings({}), silentLogger(), { sign: fakeSign().sign })();
    expect(typeof kafka.producer).toBe('function');
    expect(lookUps()).toHaveLength(0);
  });
});

describe('regionOf', () => {
  it.each([
    [CLUSTER_ARN, 'eu-west-1'],
    ['arn:aws:kafka::123456789012:cluster/x/y', undefined],
    [undefined, undefined],
  ])('reads the region of %s', (arn, region) => {
    expect(regionOf(arn)).toBe(region);
  });
});
