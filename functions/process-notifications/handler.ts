import type { Context, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { config } from '../../shared/config.js';
import { InboxStore } from '../../shared/inbox/store.js';
import { createKafka } from '../../shared/kafka/client.js';
import { decodeEvent } from '../../shared/kafka/codec.js';
import { KafkaDeadLetterPublisher } from '../../shared/kafka/dead-letters.js';
import { releasingAfterEachCall, withRequestContext } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { createMetrics } from '../../shared/metrics.js';
import { UserDirectory } from '../../shared/models/index.js';
import { traced } from '../../shared/trace.js';
import {
  type ProcessDependencies,
  type ProcessOutcome,
  processRecords,
} from '../../shared/use-cases/process-notifications.js';

/** Lambda's partial batch response for Kafka (`ReportBatchItemFailures`). */
export interface BatchResponse {
  batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[];
}

type Handler = (
  event: MSKEvent | SelfManagedKafkaEvent,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<BatchResponse | undefined>;

export interface HandlerOptions {
  /** Answer with partial batch responses (the mapping has `ReportBatchItemFailures`). */
  readonly partialBatchResponse: boolean;
}

/** The records to deliver again, as Lambda reads them: `<topic>-<partition>` and offset. */
const toBatchResponse = (outcome: ProcessOutcome): BatchResponse => ({
  batchItemFailures: outcome.failed.map((p) => ({
    itemIdentifier: { partition: `${p.topic}-${p.partition}`, offset: p.offset },
  })),
});

/** Builds the Kafka-triggered handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ProcessDependencies, options: HandlerOptions): Handler =>
  withRequestContext(deps, async (event: MSKEvent | SelfManagedKafkaEvent) => {
    const outcome = await processRecords(decodeEvent(event), deps, options.partialBatchResponse);
    return options.partialBatchResponse ? toBatchResponse(outcome) : undefined;
  });

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);

const deadLetters = new KafkaDeadLetterPublisher(createKafka(settings.kafka, logger), {
  topic: settings.topics.deadLetter,
  timeoutMs: settings.kafka.sendTimeoutMs,
  logger,
});

const warm: Handler = createHandler(
  {
    inbox: new InboxStore(
      createDocumentClient(settings.dynamodb),
      settings.inbox.tableName,
      logger,
      {},
      settings.inbox.retentionDays,
    ),
    deadLetters,
    users: new UserDirectory(settings.users),
    logger,
    metrics: createMetrics(settings),
  },
  { partialBatchResponse: settings.consumer.partialBatchResponse },
);

export const handler: Handler = settings.invokeLocal
  ? releasingAfterEachCall(warm, () => deadLetters.disconnect())
  : traced('store', warm);
