import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  createHandler,
  type ProvisionTopicsDependencies,
} from '../../functions/provision-topics/handler.js';
import {
  CUSTOM_RESOURCE_DEFAULTS,
  type CustomResourceResponse,
} from '../../shared/custom-resource.js';
import type { TopicOutcome, TopicSpec } from '../../shared/kafka/topics.js';
import { loadEvent } from '../helpers/events.js';
import { silentLogger } from '../helpers/logger.js';

type Event = CloudFormationCustomResourceEvent;

const createEvent = (): Event => loadEvent<Event>('provision-topics-create.json');

const updateEvent = (partitions = '6'): Event => ({
  ...createEvent(),
  RequestType: 'Update',
  PhysicalResourceId: 'kafka-topics-0f4e8c3e-2b7d-4a61-9f0e-5d6c7b8a9e01',
  ResourceProperties: {
    ...createEvent().ResourceProperties,
    Topics: [
      { Name: 'notifications', Partitions: partitions },
      { Name: 'notifications.dlq', Partitions: partitions },
    ],
  },
  OldResourceProperties: createEvent().ResourceProperties,
});

const deleteEvent = (): Event => ({
  ...createEvent(),
  RequestType: 'Delete',
  PhysicalResourceId: 'kafka-topics-0f4e8c3e-2b7d-4a61-9f0e-5d6c7b8a9e01',
});

const context = (remainingMs = 60_000) => ({
  awsRequestId: 'test-request-id',
  getRemainingTimeInMillis: () => remainingMs,
});

/** Fakes that record what the handler asked for. */
const setup = (provision?: ProvisionTopicsDependencies['provision']) => {
  const provisioned: TopicSpec[][] = [];
  const answers: { url: string; response: CustomResourceResponse }[] = [];
  let respondFailure: Error | undefined;
  const handler = createHandler({
    provision:
      provision ??
      (async (specs) => {
        provisioned.push([...specs]);
        return specs.map(
          (s): TopicOutcome => ({ topic: s.topic, status: 'created', partitions: s.partitions }),
        );
      }),
    respond: async (url, response) => {
      answers.push({ url, response });
      if (respondFailure) throw respondFailure;
    },
    logger: silentLogger(),
  });
  return {
    handler,
    provisioned,
    answers,
    failRespond: (error: Error) => {
      respondFailure = error;
    },
  };
};

describe('provision-topics handler', () => {
  it('creates the topics of a Create request and answers SUCCESS at the response URL', async () => {
    const { handler, provisioned, answers } = setup();
    const event = createEvent();
    await handler(event, context());
    expect(provisioned).toEqual([
      [
        { topic: 'notifications', partitions: 6 },
        { topic: 'notifications.dlq', partitions: 6 },
      ],
    ]);
    expect(answers).toEqual([
      {
        url: event.ResponseURL,
        response: {
          Status: 'SUCCESS',
          PhysicalResourceId: `kafka-topics-${event.RequestId}`,
          StackId: event.StackId,
          RequestId: event.RequestId,
          LogicalResourceId: 'KafkaTopics',
          Data: {
            Topics:
              'notifications (created, 6 partitions); notifications.dlq (created, 6 partitions)',
          },
        },
      },
    ]);
  });

  it('keeps the physical id on Update, so CloudFormation never replaces (or deletes) it', async () => {
    const { handler, provisioned, answers } = setup();
    await handler(updateEvent('12'), context());
    expect(provisioned[0]?.map((s) => s.partitions)).toEqual([12, 12]);
    expect(answers[0]?.response).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'kafka-topics-0f4e8c3e-2b7d-4a61-9f0e-5d6c7b8a9e01',
    });
  });

  it('answers SUCCESS to Delete without touching Kafka: topics hold data', async () => {
    const { handler, provisioned, answers } = setup(async () => {
      throw new Error('Delete must not reach Kafka');
    });
    await handler(deleteEvent(), context());
    expect(provisioned).toEqual([]);
    expect(answers[0]?.response).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'kafka-topics-0f4e8c3e-2b7d-4a61-9f0e-5d6c7b8a9e01',
    });
  });

  it('answers FAILED with the reason when Kafka refuses', async () => {
    const refusal = Object.assign(new Error('Topic authorization failed'), {
      name: 'KafkaJSProtocolError',
    });
    const { handler, answers } = setup(async () => {
      throw refusal;
    });
    await handler(createEvent(), context());
    expect(answers[0]?.response).toMatchObject({
      Status: 'FAILED',
      Reason: 'Could not create the Kafka topics: KafkaJSProtocolError: Topic authorization failed',
    });
  });

  it('answers FAILED before the function times out when Kafka does not answer', async () => {
    const { handler, answers } = setup(() => new Promise<never>(() => undefined));
    await handler(createEvent(), context(CUSTOM_RESOURCE_DEFAULTS.ANSWER_RESERVE_MS + 20));
    expect(answers[0]?.response.Status).toBe('FAILED');
    expect(answers[0]?.response.Reason).toContain('did not answer within 20 ms');
    expect(answers[0]?.response.Reason).toContain('port 9098');
  });

  it.each([
    ['no Topics', undefined, 'Topics'],
    ['no topic', [], 'expected at least one topic'],
    [
      'a partition count that is not a number',
      [{ Name: 'n', Partitions: 'six' }],
      'Topics.0.Partitions',
    ],
    ['zero partitions', [{ Name: 'n', Partitions: '0' }], 'Topics.0.Partitions'],
    ['a topic name with a space', [{ Name: 'my topic', Partitions: '3' }], 'Topics.0.Name'],
  ])('answers FAILED without touching Kafka for %s', async (_, topics, expected) => {
    const { handler, provisioned, answers } = setup();
    const event = createEvent();
    await handler(
      { ...event, ResourceProperties: { ...event.ResourceProperties, Topics: topics } },
      context(),
    );
    expect(provisioned).toEqual([]);
    expect(answers[0]?.response.Status).toBe('FAILED');
    expect(answers[0]?.response.Reason).toContain(expected);
  });

  it('never throws when the answer cannot be sent (CloudFormation then times out)', async () => {
    const { handler, answers, failRespond } = setup();
    failRespond(new Error('connect ETIMEDOUT'));
    await expect(handler(createEvent(), context())).resolves.toBeUndefined();
    expect(answers).toHaveLength(1);
  });

  it('ignores an event that is not a custom resource request: there is no one to answer', async () => {
    const { handler, provisioned, answers } = setup();
    const { ResponseURL: _, ...event } = createEvent();
    await expect(handler(event as Event, context())).resolves.toBeUndefined();
    expect(provisioned).toEqual([]);
    expect(answers).toEqual([]);
  });
});
