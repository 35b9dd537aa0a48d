import type { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import type { Kafka } from 'kafkajs';
import { config } from '../../shared/config.js';
import {
  CUSTOM_RESOURCE_DEFAULTS,
  type CustomResourceOutcome,
  type CustomResourceRequest,
  CustomResourceRequestSchema,
  type CustomResourceResponse,
  customResourceResponse,
  sendCustomResourceResponse,
} from '../../shared/custom-resource.js';
import { withDeadline } from '../../shared/deadline.js';
import { DeadlineExceededError } from '../../shared/errors.js';
import { createKafka } from '../../shared/kafka/client.js';
import {
  provisionTopics,
  type TopicOutcome,
  type TopicSpec,
  TopicsPropertySchema,
} from '../../shared/kafka/topics.js';
import { createLogger } from '../../shared/logger.js';
import { describeIssue, describeIssues } from '../../shared/models/index.js';

/**
 * The `Custom::KafkaTopics` resource: creates the notifications and dead-letter topics when the
 * stack is created or updated, so that no function needs `CreateTopic` at request time.
 * Deleting the stack deletes no topic: they hold data, and other stacks may read them.
 */

type Handler = (
  event: CloudFormationCustomResourceEvent,
  context: Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'>,
) => Promise<void>;

export interface ProvisionTopicsDependencies {
  /** Creates the missing topics; resolves with what each one came to. */
  readonly provision: (specs: readonly TopicSpec[]) => Promise<TopicOutcome[]>;
  /** Answers CloudFormation at the request's pre-signed URL. */
  readonly respond: (url: string, response: CustomResourceResponse) => Promise<void>;
  readonly logger: Logger;
}

const describeError = (error: unknown): string => {
  if (error instanceof DeadlineExceededError) {
    return (
      `Kafka did not answer within ${error.timeoutMs} ms: check that the function's subnets and security ` +
      'groups reach the brokers on port 9098, and the MSK API (a NAT gateway or a VPC endpoint).'
    );
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
};

/** Creates (or keeps) the topics a request asks for, within `budgetMs`. */
const settle = async (
  request: CustomResourceRequest,
  deps: ProvisionTopicsDependencies,
  budgetMs: number,
): Promise<CustomResourceOutcome> => {
  const physicalResourceId = request.PhysicalResourceId ?? `kafka-topics-${request.RequestId}`;
  if (request.RequestType === 'Delete') return { status: 'SUCCESS', physicalResourceId };
  const specs = TopicsPropertySchema.safeParse(request.ResourceProperties.Topics);
  if (!specs.success) {
    const reason = describeIssues(specs.error.issues, { prefix: 'Topics.' });
    return { status: 'FAILED', physicalResourceId, reason };
  }
  try {
    const outcomes = await withDeadline(deps.provision(specs.data), budgetMs);
    for (const o of outcomes) deps.logger.info('topic ready', { ...o });
    return {
      status: 'SUCCESS',
      physicalResourceId,
      data: {
        Topics: outcomes
          .map((o) => `${o.topic} (${o.status}, ${o.partitions} partitions)`)
          .join('; '),
      },
    };
  } catch (error) {
    deps.logger.error('creating the topics failed', { error });
    return {
      status: 'FAILED',
      physicalResourceId,
      reason: `Could not create the Kafka topics: ${describeError(error)}`,
    };
  }
};

/** Builds the custom resource handler around its dependencies (tests pass fakes). */
export const createHandler =
  (deps: ProvisionTopicsDependencies): Handler =>
  async (event, context) => {
    deps.logger.appendKeys({ requestId: context.awsRequestId });
    try {
      const parsed = CustomResourceRequestSchema.safeParse(event);
      if (!parsed.success) {
        // Without a response URL there is no one to answer.
        deps.logger.error('not a CloudFormation custom resource request', {
          issues: parsed.error.issues.map((i) => describeIssue(i)),
        });
        return;
      }
      const request = parsed.data;
      const budgetMs = Math.max(
        0,
        context.getRemainingTimeInMillis() - CUSTOM_RESOURCE_DEFAULTS.ANSWER_RESERVE_MS,
      );
      const outcome = await settle(request, deps, budgetMs);
      try {
        await deps.respond(request.ResponseURL, customResourceResponse(request, outcome));
      } catch (error) {
        deps.logger.error('could not answer CloudFormation', { error });
      }
    } finally {
      deps.logger.removeKeys(['requestId']);
    }
  };

// Created once per container. A configuration error is not thrown here: a function that cannot
// start never answers, and the stack would wait for nothing; it is reported as a FAILED answer.
const ready = ((): { logger: Logger; kafka: Kafka } | { logger: Logger; error: unknown } => {
  try {
    const settings = config();
    const logger = createLogger(settings.serviceName);
    return { logger, kafka: createKafka(settings.kafka, logger) };
  } catch (error) {
    return { logger: createLogger('provision-topics'), error };
  }
})();

export const handler: Handler = createHandler({
  provision: async (specs) => {
    if ('error' in ready) throw ready.error;
    return provisionTopics(ready.kafka, specs);
  },
  respond: (url, response) => sendCustomResourceResponse(url, response),
  logger: ready.logger,
});
