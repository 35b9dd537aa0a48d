import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { DEFAULT_USERS } from '../../shared/models/index.js';

describe('loadConfig', () => {
  it('has defaults for a local run', () => {
    const config = loadConfig({});
    expect(config.kafka).toMatchObject({ brokers: undefined, auth: 'none', sendTimeoutMs: 2500 });
    expect(config.topics).toEqual({
      notifications: 'notifications',
      partitions: 3,
      deadLetter: 'notifications.dlq',
    });
    expect(config.users).toEqual(DEFAULT_USERS);
    expect(config.inbox).toEqual({ tableName: 'notifications-inbox', retentionDays: 90 });
    expect(config.sendRate).toEqual({ limit: 600, windowS: 60 });
    expect(config.dynamodb).toEqual({ endpoint: undefined, region: undefined });
  });

  it('reads the inbox table, a local DynamoDB endpoint and the region', () => {
    const config = loadConfig({
      INBOX_TABLE: 'kafka-notifications-dev-inbox',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      AWS_REGION: 'eu-west-1',
    });
    expect(config.inbox).toEqual({ tableName: 'kafka-notifications-dev-inbox', retentionDays: 90 });
    expect(config.dynamodb).toEqual({ endpoint: 'http://127.0.0.1:8000', region: 'eu-west-1' });
  });

  it('takes an empty DYNAMODB_ENDPOINT as unset, as serverless.yml exports it on AWS', () => {
    expect(loadConfig({ DYNAMODB_ENDPOINT: '' }).dynamodb.endpoint).toBeUndefined();
  });

  it('reads a broker list and a user directory', () => {
    const config = loadConfig({
      KAFKA_BROKERS: 'a:9092, b:9092',
      USERS: '[{"id":10,"name":"Ada"}]',
      NOTIFICATIONS_TOPIC_PARTITIONS: '6',
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9092']);
    expect(config.users).toEqual([{ id: 10, name: 'Ada' }]);
    expect(config.topics.partitions).toBe(6);
  });

  it('starts a local Kafka of one node unless LOCAL_KAFKA_BROKERS asks for three', () => {
    expect(loadConfig({}).localKafkaNodes).toBe(1);
    expect(loadConfig({ LOCAL_KAFKA_BROKERS: '3' }).localKafkaNodes).toBe(3);
  });

  it('knows when it runs under sls invoke local', () => {
    expect(loadConfig({}).invokeLocal).toBe(false);
    expect(loadConfig({ IS_LOCAL: 'true' }).invokeLocal).toBe(true);
  });

  it('is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config.kafka)).toBe(true);
    expect(Object.isFrozen(config.users)).toBe(true);
  });

  it.each([
    [{ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS'],
    [{ NOTIFICATIONS_TOPIC_PARTITIONS: 'three' }, 'NOTIFICATIONS_TOPIC_PARTITIONS'],
    [{ USERS: 'not json' }, 'USERS'],
    [{ USERS: '[{"id":1,"name":"A"},{"id":1,"name":"B"}]' }, 'USERS'],
    [{ KAFKA_AUTH: 'scram' }, 'KAFKA_AUTH'],
    [{ LOCAL_KAFKA_BROKERS: '2' }, 'LOCAL_KAFKA_BROKERS'],
    [{ KAFKA_AUTH: 'iam' }, 'KAFKA_AUTH=iam needs KAFKA_BROKERS or MSK_CLUSTER_ARN'],
    [{ MSK_CLUSTER_ARN: 'arn:aws:s3:::bucket' }, 'MSK_CLUSTER_ARN'],
    [{ INBOX_TABLE: 'ab' }, 'INBOX_TABLE'],
    [{ INBOX_TABLE: 'my inbox' }, 'INBOX_TABLE'],
    [{ DYNAMODB_ENDPOINT: '127.0.0.1:8000' }, 'DYNAMODB_ENDPOINT'],
    [{ DYNAMODB_ENDPOINT: 'ftp://127.0.0.1:8000' }, 'DYNAMODB_ENDPOINT'],
  ])('fails fast on %j, naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });
});
