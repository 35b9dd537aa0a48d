import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';

/** A real logger that prints nothing, for tests that do not look at logs. */
export const silentLogger = (): Logger => new Logger({ serviceName: 'tests', logLevel: 'SILENT' });

/** One JSON log line, parsed. */
export type LogLine = Readonly<Record<string, unknown>>;

/**
 * A real logger whose JSON lines are kept in `lines` instead of printed: Powertools prints
 * through a `Console` of its own, which is pointed at a stream that collects them.
 */
export const recordingLogger = (): { logger: Logger; lines: LogLine[] } => {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim()) lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });
  const logger = new Logger({ serviceName: 'tests', logLevel: 'DEBUG' });
  (logger as unknown as { console: Console }).console = new Console({
    stdout: sink,
    stderr: sink,
  });
  return { logger, lines };
};
