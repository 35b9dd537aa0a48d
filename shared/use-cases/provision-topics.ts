import type { Logger } from '@aws-lambda-powertools/logger';
import type { CustomResourceOutcome, CustomResourceRequest } from '../custom-resource.js';
import { withDeadline } from '../deadline.js';
import { DeadlineExceededError } from '../errors.js';
import { type TopicOutcome, type TopicSpec, TopicsPropertySchema } from '../kafka/topics.js';
import { describeIssues } from '../models/index.js';

export interface ProvisionDependencies {
  /** Creates the missing topics; resolves with what each one came to. */
  readonly provision: (specs: readonly TopicSpec[]) => Promise<TopicOutcome[]>;
  readonly logger: Logger;
}

/**
 * Why creating the topics failed, in words an operator can act on: a timeout almost always
 * means the function cannot reach the brokers or the MSK API.
 */
export const describeProvisionError = (error: unknown): string => {
  if (error instanceof DeadlineExceededError) {
    return (
      `Kafka did not answer within ${error.timeoutMs} ms: check that the function's subnets and security ` +
      'groups reach the brokers on port 9098, and the MSK API (a NAT gateway or a VPC endpoint).'
    );
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
};

/**
 * Settles a `Custom::KafkaTopics` request: creates (or keeps) the topics it asks for within
 * `budgetMs`. Deleting creates nothing and deletes nothing: topics hold data, and other stacks
 * may read them. Never throws: every failure is a FAILED outcome, since CloudFormation must be
 * answered either way.
 */
export const provisionTopicsFor = async (
  request: CustomResourceRequest,
  deps: ProvisionDependencies,
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
      reason: `Could not create the Kafka topics: ${describeProvisionError(error)}`,
    };
  }
};
