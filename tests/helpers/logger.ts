import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';

/** A real logger that prints nothing, for tests that do not look at logs. */
export const silentLogger = (): Logger => new Logger({ serviceName: 'tests', logLevel: 'SILENT' });

/** One JSON log line, parsed. */
export type LogLine = Readonly<Record<string, unknown>>;

/**
 * Points a Powertools utility (Logger, Metrics), which prints through a `Console` of its own, at
 * a stream that parses each JSON line it prints into `lines` instead.
 */
export const collectJsonLines = <L>(powertools: object, lines: L[]): void => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim()) lines.push(JSON.parse(text) as L);
      }
      done();
    },
  });
  (powertools as { console: Console }).console = new Console({ stdout: sink, stderr: sink });
};

/** A real logger whose JSON lines are kept in `lines` instead of printed. */
export const recordingLogger = (): { logger: Logger; lines: LogLine[] } => {
  const lines: LogLine[] = [];
  const logger = new Logger({ serviceName: 'tests', logLevel: 'DEBUG' });
  collectJsonLines(logger, lines);
  return { logger, lines };
};
