import { Logger } from '@aws-lambda-powertools/logger';

/** A real logger that prints nothing, for tests that do not look at logs. */
export const silentLogger = (): Logger => new Logger({ serviceName: 'tests', logLevel: 'SILENT' });
