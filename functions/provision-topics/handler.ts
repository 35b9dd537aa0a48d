import type { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { config } from '../../shared/config.js';
import {
  CUSTOM_RESOURCE_DEFAULTS,
  CustomResourceRequestSchema,
  type CustomResourceResponse,
  customResourceResponse,
  sendCustomResourceResponse,
} from '../../shared/custom-resource.js';
import { createKafka, type KafkaSource } from '../../shared/kafka/client.js';
import { provisionTopics } from '../../shared/kafka/topics.js';
import { withRequestContext } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { describeIssue } from '../../shared/models/index.js';
import {
  type ProvisionDependencies,
  provisionTopicsFor,
} from '../../shared/use-cases/provision-topics.js';

/**
 * The `Custom::KafkaTopics` resource: creates the notifications and dead-letter topics when the
 * stack is created or updated, so that no function needs `CreateTopic` at request time.
 */

type LambdaContext = Pick<Context, 'awsRequestId' | 'getRemainingTimeInMillis'>;
type Handler = (event: CloudFormationCustomResourceEvent, context: LambdaContext) => Promise<void>;

export interface ProvisionTopicsDependencies extends ProvisionDependencies {
  /** Answers CloudFormation at the request's pre-signed URL. */
  readonly respond: (url: string, response: CustomResourceResponse) => Promise<void>;
}

/** The invocation's time, less what answering CloudFormation needs. */
const budgetOf = (context: LambdaContext): number =>
  Math.max(0, context.getRemainingTimeInMillis() - CUSTOM_RESOURCE_DEFAULTS.ANSWER_RESERVE_MS);

/** Builds the custom resource handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ProvisionTopicsDependencies): Handler =>
  withRequestContext(
    deps,
    async (event: CloudFormationCustomResourceEvent, _request, context: LambdaContext) => {
      const parsed = CustomResourceRequestSchema.safeParse(event);
      if (!parsed.success) {
        // Without a response URL there is no one to answer.
        deps.logger.error('not a CloudFormation custom resource request', {
          issues: parsed.error.issues.map((i) => describeIssue(i)),
        });
        return;
      }
      const request = parsed.data;
      const outcome = await provisionTopicsFor(request, deps, budgetOf(context));
      try {
        await deps.respond(request.ResponseURL, customResourceResponse(request, outcome));
      } catch (error) {
        deps.logger.error('could not answer CloudFormation', { error });
      }
    },
  );

// Created once per container. A configuration error is not thrown here: a function that cannot
// start never answers, and the stack would wait for nothing; it is reported as a FAILED answer.
const ready = ((): { logger: Logger; kafka: KafkaSource } | { logger: Logger; error: unknown } => {
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
    return provisionTopics(await ready.kafka(), specs);
  },
  respond: (url, response) => sendCustomResourceResponse(url, response),
  logger: ready.logger,
});
