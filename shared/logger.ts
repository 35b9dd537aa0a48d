import { Logger } from '@aws-lambda-powertools/logger';
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';

/** Structured JSON logger shared by a function's modules (one per container). */
export const createLogger = (serviceName: string): Logger => new Logger({ serviceName });

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
    if (level === KafkaLogLevel.ERROR && namespace !== 'Connection') logger.error(message, entry);
    else if (level <= KafkaLogLevel.WARN) logger.warn(message, entry);
    else if (level === KafkaLogLevel.INFO) logger.info(message, entry);
    else logger.debug(message, entry);
  };
