import { describe, expect, it } from 'vitest';

/** A record with this value (an object as JSON), as a mapping's filter sees it. */
const rec = (value: unknown) => ({ value: b64(value) }) as never;

import {
  compiledProperties,
  DEFAULTS,
  type EventContext,
  type Mapping,
  mappingOf,
  mappingsOf,
} from '../src/definition.js';
import { b64, pluginErrors } from './support.js';

const { MappingError } = pluginErrors;

const CLUSTER_ARN = 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/0a1b2c3d-1';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_demo-AbCdEf';
const LOGICAL_ID = 'ConsumerEventSourceMappingMSKDemoNotifications';
const PROVISIONED = { ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 2 } };

/** The context `mappingsOf` builds for one event, with `changes` applied. */
const context = (
  event: EventContext['event'] = { msk: { arn: CLUSTER_ARN, topic: 'notifications' } },
  changes: Partial<EventContext> = {},
): EventContext => ({
  serviceName: 'kafka-notifications',
  stage: 'dev',
  region: 'eu-west-1',
  functionKey: 'consumer',
  functionName: 'kafka-notifications-dev-consumer',
  functionTimeoutS: 30,
  index: 0,
  event,
  logicalId: LOGICAL_ID,
  extension: undefined,
  ...changes,
});

/** An msk event with `fields` added. */
const msk = (fields: Record<string, unknown> = {}): EventContext['event'] => ({
  msk: { arn: CLUSTER_ARN, topic: 'notifications', ...fields },
});

/** Extension properties, as under `resources.extensions.<LogicalId>.Properties`. */
const extended = (properties: Record<string, unknown>, event = msk()) =>
  context(event, { extension: { Properties: properties } });

/** The mapping of an enabled event (fails the test if the event is disabled). */
const mapping = (ctx: EventContext): Mapping => {
  const m = mappingOf(ctx);
  if (!m) throw new Error('expected an enabled mapping');
  return m;
};

describe('compiledProperties', () => {
  it('writes what the framework writes for a minimal msk event', () => {
    expect(compiledProperties(msk())).toEqual({
      StartingPosition: 'TRIM_HORIZON',
      Topics: ['notifications'],
      EventSourceArn: CLUSTER_ARN,
    });
  });

  it('writes every msk event property under its CloudFormation name', () => {
    const properties = compiledProperties(
      msk({
        batchSize: 10,
        maximumBatchingWindow: 2,
        enabled: false,
        startingPosition: 'AT_TIMESTAMP',
        startingPositionTimestamp: 1_764_000_000,
        consumerGroupId: 'notifications-consumer',
        filterPatterns: [{ value: { kind: ['follow'] } }],
        provisionedPollerConfig: { MinimumPollers: 1 },
      }),
    );
    expect(properties).toEqual({
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: 1_764_000_000,
      Topics: ['notifications'],
      EventSourceArn: CLUSTER_ARN,
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 2,
      Enabled: false,
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'notifications-consumer' },
      FilterCriteria: { Filters: [{ Pattern: '{"value":{"kind":["follow"]}}' }] },
      ProvisionedPollerConfig: { MinimumPollers: 1 },
    });
  });

  it('drops maximumBatchingWindow: 0, as the framework’s falsy check does', () => {
    expect(compiledProperties(msk({ maximumBatchingWindow: 0 }))).not.toHaveProperty(
      'MaximumBatchingWindowInSeconds',
    );
  });

  it('writes a self-managed kafka event with its endpoints, group and destination', () => {
    const properties = compiledProperties({
      kafka: {
        bootstrapServers: ['a:9092', 'b:9092'],
        topic: 'notifications',
        accessConfigurations: { saslScram512Auth: [SECRET_ARN] },
        consumerGroupId: 'group-1',
        onFailureDestination: 'kafka://notifications-dlq',
      },
    });
    expect(properties).toMatchObject({
      Topics: ['notifications'],
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['a:9092', 'b:9092'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'group-1' },
      DestinationConfig: { OnFailure: { Destination: 'kafka://notifications-dlq' } },
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: SECRET_ARN }],
    });
    expect(properties).not.toHaveProperty('EventSourceArn');
  });

  it('writes an msk event’s saslScram512 as the framework does', () => {
    expect(compiledProperties(msk({ saslScram512: SECRET_ARN }))).toMatchObject({
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: SECRET_ARN }],
    });
  });
});

describe('mappingOf', () => {
  it('uses AWS’s defaults for a minimal msk event', () => {
    const m = mapping(context());
    expect(m).toMatchObject({
      id: 'consumer#0',
      functionKey: 'consumer',
      functionName: 'kafka-notifications-dev-consumer',
      logicalId: LOGICAL_ID,
      source: { kind: 'msk', arn: CLUSTER_ARN },
      topic: 'notifications',
      batchSize: 100,
      windowMs: 500,
      startingPosition: 'TRIM_HORIZON',
      startingPositionTimestampMs: undefined,
      errorHandling: {
        provisioned: false,
        maxRetries: -1,
        maxRecordAgeMs: -1,
        bisect: false,
        reportBatchItemFailures: false,
        onFailure: undefined,
      },
      warnings: [],
    });
    expect(DEFAULTS.BATCH_SIZE).toBe(100);
  });

  it('delivers every record when no filter is set', () => {
    const m = mapping(context());
    expect(m.filter(rec('anything'))).toBe(true);
    expect(m.filter({ value: null } as never)).toBe(true);
  });

  it('reads a self-managed kafka event as source kind "kafka", starting from TRIM_HORIZON', () => {
    const m = mapping(
      context({
        kafka: {
          bootstrapServers: ['a:9092'],
          topic: 'notifications',
          accessConfigurations: { saslScram512Auth: [SECRET_ARN] },
        },
      }),
    );
    expect(m.source).toEqual({ kind: 'kafka' });
    expect(m.bootstrapServers).toEqual(['a:9092']);
    expect(m.access).toEqual({
      sasl: { type: 'SASL_SCRAM_512_AUTH', secretArn: SECRET_ARN },
      clientCertificate: undefined,
      serverRootCa: undefined,
    });
    expect(m.startingPosition).toBe('TRIM_HORIZON');
  });

  it('returns undefined for a disabled event, from the event or from an extension', () => {
    expect(mappingOf(context(msk({ enabled: false })))).toBeUndefined();
    expect(mappingOf(extended({ Enabled: false }))).toBeUndefined();
    expect(mappingOf(extended({ Enabled: true }, msk({ enabled: false })))).toBeDefined();
  });

  it('throws MappingError for an event that is neither msk nor kafka', () => {
    expect(() => mappingOf(context({}))).toThrow(MappingError);
  });

  it.each([
    ['no topic', extended({ Topics: [] })],
    ['two topics', extended({ Topics: ['a', 'b'] })],
    ['an empty topic', context(msk({ topic: '' }))],
  ])('rejects a mapping with %s', (_, ctx) => {
    expect(() => mappingOf(ctx)).toThrow(/exactly one topic/);
  });

  describe('consumer group', () => {
    it('uses consumerGroupId verbatim', () => {
      expect(mapping(context(msk({ consumerGroupId: 'My.Group_1' }))).groupId).toBe('My.Group_1');
    });

    it('uses the extension’s ConsumerGroupId over the event’s', () => {
      const ctx = extended(
        { AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'from-extension' } },
        msk({ consumerGroupId: 'from-event' }),
      );
      expect(mapping(ctx).groupId).toBe('from-extension');
    });

    it('generates a UUID-shaped id that is the same for the same mapping on every start', () => {
      const first = mapping(context()).groupId;
      expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(mapping(context()).groupId).toBe(first);
    });

    it.each([
      ['another function', { functionKey: 'audit' }],
      ['another event index', { index: 1 }],
      ['another stage', { stage: 'prod' }],
      ['another service', { serviceName: 'other-service' }],
    ])('generates a different id for %s', (_, changes) => {
      expect(mapping(context(msk(), changes)).groupId).not.toBe(mapping(context()).groupId);
    });

    it('generates a different id for another topic', () => {
      expect(mapping(context(msk({ topic: 'audit' }))).groupId).not.toBe(
        mapping(context()).groupId,
      );
    });
  });

  describe('batching', () => {
    it('uses batchSize and maximumBatchingWindow (seconds) from the event', () => {
      const m = mapping(context(msk({ batchSize: 25, maximumBatchingWindow: 3 })));
      expect(m.batchSize).toBe(25);
      expect(m.windowMs).toBe(3_000);
    });

    it('keeps the 0.5 s window for maximumBatchingWindow: 0 and says how to get no window', () => {
      const m = mapping(context(msk({ maximumBatchingWindow: 0 })));
      expect(m.windowMs).toBe(500);
      expect(m.warnings).toHaveLength(1);
      expect(m.warnings[0]).toContain(
        `resources.extensions.${LOGICAL_ID}.Properties.MaximumBatchingWindowInSeconds: 0`,
      );
    });

    it('uses no window for an extension MaximumBatchingWindowInSeconds: 0, without a warning', () => {
      const m = mapping(
        extended({ MaximumBatchingWindowInSeconds: 0 }, msk({ maximumBatchingWindow: 0 })),
      );
      expect(m.windowMs).toBe(0);
      expect(m.warnings).toEqual([]);
    });

    it.each([
      ['BatchSize 0', { BatchSize: 0 }, /BatchSize must be an integer from 1 to 10000; received 0/],
      ['BatchSize 10001', { BatchSize: 10_001 }, /BatchSize .* received 10001/],
      ['BatchSize as a string', { BatchSize: '10' }, /BatchSize .* received "10"/],
      [
        'a window of 301 s',
        { MaximumBatchingWindowInSeconds: 301 },
        /MaximumBatchingWindowInSeconds must be an integer from 0 to 300; received 301/,
      ],
      ['a negative window', { MaximumBatchingWindowInSeconds: -1 }, /received -1/],
      ['BatchSize 10.5', { BatchSize: 10.5 }, /BatchSize must be an integer .* received 10.5/],
      ['a window of 0.5 s', { MaximumBatchingWindowInSeconds: 0.5 }, /received 0.5/],
    ])('rejects %s', (_, properties, message) => {
      const ctx = extended(properties);
      expect(() => mappingOf(ctx)).toThrow(MappingError);
      expect(() => mappingOf(ctx)).toThrow(message);
    });

    it.each([
      ['BatchSize', 1, { batchSize: 1 }],
      ['BatchSize', 10_000, { batchSize: 10_000 }],
      ['MaximumBatchingWindowInSeconds', 300, { windowMs: 300_000 }],
    ])('accepts %s %s at the edge of its range', (name, value, expected) => {
      expect(mapping(extended({ [name]: value }))).toMatchObject(expected);
    });

    it('rejects a batchSize over the limit given on the event itself', () => {
      expect(() => mappingOf(context(msk({ batchSize: 10_001 })))).toThrow(MappingError);
    });
  });

  describe('starting position', () => {
    it.each(['LATEST', 'TRIM_HORIZON'])('accepts %s', (position) => {
      expect(mapping(context(msk({ startingPosition: position }))).startingPosition).toBe(position);
    });

    it('converts an AT_TIMESTAMP timestamp from seconds to milliseconds', () => {
      const m = mapping(
        context(
          msk({ startingPosition: 'AT_TIMESTAMP', startingPositionTimestamp: 1_764_000_000.25 }),
        ),
      );
      expect(m.startingPosition).toBe('AT_TIMESTAMP');
      expect(m.startingPositionTimestampMs).toBe(1_764_000_000_250);
    });

    it('rejects AT_TIMESTAMP without a timestamp', () => {
      const ctx = context(msk({ startingPosition: 'AT_TIMESTAMP' }));
      expect(() => mappingOf(ctx)).toThrow(MappingError);
      expect(() => mappingOf(ctx)).toThrow(/startingPositionTimestamp/);
    });

    it('rejects an unknown starting position', () => {
      expect(() => mappingOf(context(msk({ startingPosition: 'EARLIEST' })))).toThrow(
        /TRIM_HORIZON, LATEST or AT_TIMESTAMP; received "EARLIEST"/,
      );
    });
  });

  describe('filters', () => {
    it('compiles filterPatterns from the event', () => {
      const m = mapping(context(msk({ filterPatterns: [{ value: { kind: ['follow'] } }] })));
      expect(m.filter(rec({ kind: 'follow' }))).toBe(true);
      expect(m.filter(rec({ kind: 'like' }))).toBe(false);
    });

    it('compiles FilterCriteria from an extension, whose patterns replace the event’s', () => {
      const m = mapping(
        extended(
          { FilterCriteria: { Filters: [{ Pattern: '{"value":["ping"]}' }] } },
          msk({ filterPatterns: [{ value: { kind: ['follow'] } }] }),
        ),
      );
      expect(m.filter(rec('ping'))).toBe(true);
      expect(m.filter(rec({ kind: 'follow' }))).toBe(false);
    });

    it.each([
      [5, 0],
      [6, 1],
      [10, 1],
    ])('accepts %i filters with %i quota warnings', (count, warnings) => {
      const patterns = Array.from({ length: count }, (_, i) => ({ value: { n: [i] } }));
      const m = mapping(context(msk({ filterPatterns: patterns })));
      expect(m.warnings).toHaveLength(warnings);
      if (warnings > 0)
        expect(m.warnings[0]).toMatch(new RegExp(`${count} filters need a quota raise`));
      expect(m.filter(rec({ n: count - 1 }))).toBe(true);
      expect(m.filter(rec({ n: count }))).toBe(false);
    });

    it('rejects more than 10 filters', () => {
      const patterns = Array.from({ length: 11 }, (_, i) => ({ value: { n: [i] } }));
      expect(() => mappingOf(context(msk({ filterPatterns: patterns })))).toThrow(
        /at most 10 filters/,
      );
    });

    it('rejects an invalid pattern as a MappingError', () => {
      const ctx = extended({ FilterCriteria: { Filters: [{ Pattern: '{ not json' }] } });
      expect(() => mappingOf(ctx)).toThrow(MappingError);
      expect(() => mappingOf(ctx)).toThrow(/invalid filterPatterns/);
    });

    it('keeps the filter’s own error as the MappingError’s cause', () => {
      const ctx = extended({ FilterCriteria: { Filters: [{ Pattern: { other: ['x'] } }] } });
      expect(() => mappingOf(ctx)).toThrow(
        expect.objectContaining({
          name: 'MappingError',
          cause: expect.objectContaining({ name: 'FilterError' }),
        }),
      );
    });
  });

  describe('error handling', () => {
    it.each([
      ['MaximumRetryAttempts', { MaximumRetryAttempts: 2 }],
      ['BisectBatchOnFunctionError', { BisectBatchOnFunctionError: true }],
      ['FunctionResponseTypes', { FunctionResponseTypes: ['ReportBatchItemFailures'] }],
      ['MaximumRecordAgeInSeconds', { MaximumRecordAgeInSeconds: 3_600 }],
      [
        'a Kafka on-failure destination',
        { DestinationConfig: { OnFailure: { Destination: 'kafka://dlq' } } },
      ],
    ])('rejects %s without provisioned mode', (name, properties) => {
      const ctx = extended(properties);
      expect(() => mappingOf(ctx)).toThrow(MappingError);
      expect(() => mappingOf(ctx)).toThrow(new RegExp(`${name} need provisioned mode`));
    });

    it.each([
      ['MaximumRetryAttempts', { MaximumRetryAttempts: 2 }, { maxRetries: 2 }],
      ['BisectBatchOnFunctionError', { BisectBatchOnFunctionError: true }, { bisect: true }],
      [
        'FunctionResponseTypes',
        { FunctionResponseTypes: ['ReportBatchItemFailures'] },
        { reportBatchItemFailures: true },
      ],
      [
        'MaximumRecordAgeInSeconds',
        { MaximumRecordAgeInSeconds: 3_600 },
        { maxRecordAgeMs: 3_600_000 },
      ],
    ])('accepts %s in provisioned mode', (_, properties, expected) => {
      const m = mapping(extended({ ...PROVISIONED, ...properties }));
      expect(m.errorHandling).toMatchObject({ provisioned: true, ...expected });
    });

    it('turns on provisioned mode from the event’s provisionedPollerConfig', () => {
      const m = mapping(
        extended(
          { MaximumRetryAttempts: 1 },
          msk({ provisionedPollerConfig: { minimumPollers: 1, maximumPollers: 1 } }),
        ),
      );
      expect(m.errorHandling).toMatchObject({ provisioned: true, maxRetries: 1 });
    });

    it('accepts an empty FunctionResponseTypes list without provisioned mode', () => {
      expect(
        mapping(extended({ FunctionResponseTypes: [] })).errorHandling.reportBatchItemFailures,
      ).toBe(false);
    });

    it.each([
      ['MaximumRetryAttempts -2', { MaximumRetryAttempts: -2 }, /MaximumRetryAttempts/],
      ['MaximumRetryAttempts 10001', { MaximumRetryAttempts: 10_001 }, /MaximumRetryAttempts/],
      [
        'MaximumRecordAgeInSeconds 59',
        { MaximumRecordAgeInSeconds: 59 },
        /-1 or from 60 to 604800/,
      ],
      [
        'MaximumRecordAgeInSeconds 604801',
        { MaximumRecordAgeInSeconds: 604_801 },
        /MaximumRecordAgeInSeconds/,
      ],
    ])('rejects %s', (_, properties, message) => {
      expect(() => mappingOf(extended({ ...PROVISIONED, ...properties }))).toThrow(message);
    });

    it('accepts -1 (unlimited) for retries and record age', () => {
      const m = mapping(
        extended({ ...PROVISIONED, MaximumRetryAttempts: -1, MaximumRecordAgeInSeconds: -1 }),
      );
      expect(m.errorHandling).toMatchObject({ maxRetries: -1, maxRecordAgeMs: -1 });
    });

    it('parses a kafka:// destination and caps infinite retries at 10', () => {
      const m = mapping(
        extended({
          ...PROVISIONED,
          DestinationConfig: { OnFailure: { Destination: 'kafka://notifications-dlq' } },
        }),
      );
      expect(m.errorHandling.onFailure).toEqual({ kind: 'kafka', topic: 'notifications-dlq' });
      expect(m.errorHandling.maxRetries).toBe(10);
      expect(m.warnings).toEqual([]);
    });

    it('keeps an explicit retry limit with a destination', () => {
      const m = mapping(
        extended({
          ...PROVISIONED,
          MaximumRetryAttempts: 3,
          DestinationConfig: { OnFailure: { Destination: 'kafka://dlq' } },
        }),
      );
      expect(m.errorHandling.maxRetries).toBe(3);
    });

    it.each([
      ['sqs', 'arn:aws:sqs:eu-west-1:123456789012:notifications-dlq', 'notifications-dlq'],
      ['sns', 'arn:aws:sns:eu-west-1:123456789012:alerts', 'alerts'],
      ['s3', 'arn:aws:s3:::failed-batches', 'failed-batches'],
    ])('reads an %s destination, which needs no provisioned mode', (kind, arn, name) => {
      const m = mapping(extended({ DestinationConfig: { OnFailure: { Destination: arn } } }));
      expect(m.errorHandling.onFailure).toEqual({ kind, name, arn });
      expect(m.errorHandling.maxRetries).toBe(10);
    });

    it.each([
      ['the source topic as a Kafka destination', 'kafka://notifications', /is the source topic/],
      [
        'an unknown destination',
        'arn:aws:lambda:eu-west-1:1:function:f',
        /must be kafka:\/\/<topic> or the ARN/,
      ],
      ['an invalid topic', 'kafka://bad topic', /not a valid Kafka topic/],
    ])('refuses %s', (_, destination, message) => {
      const ctx = extended({
        ...PROVISIONED,
        DestinationConfig: { OnFailure: { Destination: destination } },
      });
      expect(() => mappingOf(ctx)).toThrow(message);
    });

    it('reads the onFailureDestination of a kafka event', () => {
      const m = mapping(
        context({
          kafka: {
            bootstrapServers: ['a:9092'],
            topic: 'notifications',
            accessConfigurations: {},
            onFailureDestination: 'kafka://dlq',
            provisionedPollerConfig: { minimumPollers: 1 },
          },
        }),
      );
      expect(m.errorHandling.onFailure).toEqual({ kind: 'kafka', topic: 'dlq' });
    });
  });

  describe('cluster ARN', () => {
    it('echoes an ARN given as a string', () => {
      expect(mapping(context()).source).toEqual({ kind: 'msk', arn: CLUSTER_ARN });
    });

    it.each([
      ['{Ref: DemoCluster}', { Ref: 'DemoCluster' }, 'DemoCluster'],
      [
        '{Fn::ImportValue: shared-cluster}',
        { 'Fn::ImportValue': 'shared-cluster' },
        'shared-cluster',
      ],
    ])('replaces %s by a recognisable placeholder ARN in the mapping’s region', (_, arn, token) => {
      expect(mapping(context(msk({ arn }))).source).toEqual({
        kind: 'msk',
        arn: `arn:aws:kafka:eu-west-1:000000000000:cluster/${token}/offline`,
      });
    });
  });

  it('refuses a function timeout over 14 minutes, as AWS does', () => {
    expect(mapping(context(msk(), { functionTimeoutS: 840 })).warnings).toEqual([]);
    expect(() => mappingOf(context(msk(), { functionTimeoutS: 841 }))).toThrow(
      /timeout is 841 s; AWS refuses Kafka triggers .* over 840 s/,
    );
  });

  it.each([
    [
      'MaximumPollers below MinimumPollers',
      { ProvisionedPollerConfig: { MinimumPollers: 3, MaximumPollers: 2 } },
      /MaximumPollers \(2\) must be at least MinimumPollers \(3\)/,
    ],
    [
      'MinimumPollers 201',
      { ProvisionedPollerConfig: { MinimumPollers: 201 } },
      /MinimumPollers must be an integer from 1 to 200/,
    ],
    [
      'LoggingConfig without provisioned mode',
      { LoggingConfig: { SystemLogLevel: 'INFO' } },
      /LoggingConfig need provisioned mode/,
    ],
    [
      'an unknown SystemLogLevel',
      { ProvisionedPollerConfig: {}, LoggingConfig: { SystemLogLevel: 'TRACE' } },
      /SystemLogLevel must be DEBUG, INFO or WARN/,
    ],
    [
      'an unknown metric',
      { ProvisionedPollerConfig: {}, MetricsConfig: { Metrics: ['Lag'] } },
      /MetricsConfig.Metrics accepts/,
    ],
    [
      'MaximumRetryAttempts 1.5',
      { ProvisionedPollerConfig: {}, MaximumRetryAttempts: 1.5 },
      /MaximumRetryAttempts must be an integer/,
    ],
  ])('refuses %s at start', (_, properties, message) => {
    expect(() => mappingOf(extended(properties))).toThrow(message);
  });

  it('reads SystemLogLevel and the metrics asked for', () => {
    const m = mapping(
      extended({
        ProvisionedPollerConfig: { MinimumPollers: 1 },
        LoggingConfig: { SystemLogLevel: 'WARN' },
        MetricsConfig: { Metrics: ['EventCount', 'KafkaMetrics'] },
      }),
    );
    expect(m).toMatchObject({
      logLevel: 'WARN',
      metrics: ['EventCount', 'KafkaMetrics'],
      pollers: { min: 1, max: 200 },
    });
  });
});

describe('mappingsOf', () => {
  /** Just enough of the framework for `mappingsOf`: functions, events, naming, extensions. */
  const serverless = (
    functions: Record<string, { events: unknown[] }>,
    extensions: object = {},
  ) => ({
    service: {
      service: 'kafka-notifications',
      provider: { timeout: 6 },
      resources: { extensions },
      getAllFunctions: () => Object.keys(functions),
      getFunction: (key: string) => ({ name: `kafka-notifications-dev-${key}` }),
      getAllEventsInFunction: (key: string) => functions[key]?.events ?? [],
    },
    getProvider: () => ({
      getStage: () => 'dev',
      getRegion: () => 'eu-west-1',
      naming: {
        getMSKEventLogicalId: (fn: string, cluster: string, topic: string) =>
          `${fn}MSK${cluster}${topic}`,
        getKafkaEventLogicalId: (fn: string, topic: string) => `${fn}Kafka${topic}`,
      },
    }),
  });

  it('builds one mapping per enabled Kafka event, applying extensions by logical id', () => {
    const invalid: string[] = [];
    const mappings = mappingsOf(
      serverless(
        {
          consumer: {
            events: [
              { http: { path: '/' } },
              { msk: { arn: CLUSTER_ARN, topic: 'notifications' } },
              { msk: { arn: CLUSTER_ARN, topic: 'audit', enabled: false } },
            ],
          },
          audit: {
            events: [
              { kafka: { bootstrapServers: ['a:9092'], topic: 'audit', accessConfigurations: {} } },
            ],
          },
        },
        { consumerMSKdemonotifications: { Properties: { BatchSize: 7 } } },
      ),
      (functionKey, message) => invalid.push(`${functionKey}: ${message}`),
    );
    expect(mappings.map((m) => [m.id, m.topic, m.batchSize, m.source.kind])).toEqual([
      ['consumer#1', 'notifications', 7, 'msk'],
      ['audit#0', 'audit', 100, 'kafka'],
    ]);
    expect(mappings[0]?.logicalId).toBe('consumerMSKdemonotifications');
    expect(invalid).toEqual([]);
  });

  it('refuses a consumer group that another mapping already uses', () => {
    const invalid: string[] = [];
    const mappings = mappingsOf(
      serverless({
        a: {
          events: [{ msk: { arn: CLUSTER_ARN, topic: 'notifications', consumerGroupId: 'g' } }],
        },
        b: { events: [{ msk: { arn: CLUSTER_ARN, topic: 'audit', consumerGroupId: 'g' } }] },
      }),
      (functionKey, message) => invalid.push(`${functionKey}: ${message}`),
    );
    expect(mappings.map((m) => m.functionKey)).toEqual(['a']);
    expect(invalid).toEqual([expect.stringMatching(/^b: consumer group g is already used by a/)]);
  });

  it('reports an invalid mapping and keeps the others', () => {
    const invalid: string[] = [];
    const mappings = mappingsOf(
      serverless({
        consumer: {
          events: [
            { msk: { arn: CLUSTER_ARN, topic: 'notifications', batchSize: 20_000 } },
            { msk: { arn: CLUSTER_ARN, topic: 'audit' } },
          ],
        },
      }),
      (functionKey, message) => invalid.push(`${functionKey}: ${message}`),
    );
    expect(mappings.map((m) => m.topic)).toEqual(['audit']);
    expect(invalid).toEqual([
      expect.stringMatching(/^consumer: BatchSize must be an integer from 1 to 10000/),
    ]);
  });
});
