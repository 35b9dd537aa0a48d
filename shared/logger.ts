import { Logger } from '@aws-lambda-powertools/logger';
import type { logCreator, logLevel } from 'kafkajs';

/** Structured JSON logger shared by a function's modules (one per container). */
export const createLogger = (serviceName: string): Logger => new Logger({ serviceName });

/**
 * kafkajs's log levels, restated (and checked against its types) so that this module does not
 * load kafkajs: every function logs, and one that never talks to Kafka (the inbox reader) would
 * otherwise bundle all of kafkajs.
 */
export const KAFKA_LOG_LEVEL = { ERROR: 1, WARN: 2, INFO: 4 } as const satisfies {
  readonly ERROR: logLevel.ERROR;
  readonly WARN: logLevel.WARN;
  readonly INFO: logLevel.INFO;
};

// kafkajs warns about this on every start because we bound the idempotent producer's retries on
// purpose: an HTTP request must answer within seconds, and the client retries the whole request.
const EXPECTED_KAFKA_WARNINGS = new Set([
  'Limiting retries for the idempotent producer may invalidate EoS guarantees',
]);

/** Routes kafkajs's own logs through `logger`, as structured entries. */
export const kafkaLogCreator =
  (logger: Logger): logCreator =>
  () =>
  ({ namespace, level, log }) => {
    const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
    if (EXPECTED_KAFKA_WARNINGS.has(message)) return;
    const entry = { kafkajs: namespace, ...extra };
    // kafkajs logs every error response at ERROR, even those it retries (a coordinator still
    // loading, a leader moving); whatever finally fails is reported by our own code.
    if (level === KAFKA_LOG_LEVEL.ERROR && namespace !== 'Connection') logger.error(message, entry);
    else if (level <= KAFKA_LOG_LEVEL.WARN) logger.warn(message, entry);
    else if (level === KAFKA_LOG_LEVEL.INFO) logger.info(message, entry);
    else logger.debug(message, entry);
  };
