import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { KAFKA_LIBS } from '../../scripts/lib/broker.js';
import { CACHE_DIR } from '../../scripts/lib/paths.js';

/**
 * Kafka's own Java producer (tests/fixtures/JavaProducer.java, run from the broker's jars), for
 * tests that need record batches exactly as Java clients write them: every compression codec,
 * headers with any name or a null value, transactions and their control records.
 */

const SOURCE = join(import.meta.dirname, '../fixtures/JavaProducer.java');

/** Kafka's `compression.type` values. */
export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

type Bytes = Buffer | string | null;

export interface JavaRecord {
  readonly topic: string;
  /** -1 lets the producer's partitioner choose. */
  readonly partition: number;
  readonly key?: Bytes;
  readonly value: Bytes;
  readonly headers?: readonly (readonly [name: string, value: Bytes])[];
}

export interface JavaProducer {
  /** Queues a record; `flush` sends everything queued, batched together. */
  send(record: JavaRecord): Promise<void>;
  /** Sends what is queued and returns each record's `partition@offset`, in queue order. */
  flush(): Promise<string[]>;
  /**
   * Writes `count` records shaped as `preload` writes them (JSON values of `valueBytes` bytes,
   * keys of 1-3 digits, spread evenly over `partitions`), and flushes.
   */
  fill(
    topic: string,
    count: number,
    options?: { partitions?: number; valueBytes?: number },
  ): Promise<void>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

let compiled: Promise<string> | undefined;

/**
 * Compiles the producer (javac, against the broker's jars) into `.cache/java-producer/<hash of
 * its source>`, once: later runs reuse the classes.
 */
const classes = (): Promise<string> => {
  compiled ??= (async () => {
    const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 12);
    const dir = join(CACHE_DIR, 'java-producer', hash);
    if (existsSync(join(dir, 'JavaProducer.class'))) return dir;
    mkdirSync(dirname(dir), { recursive: true });
    const building = mkdtempSync(`${dir}.building-`);
    await promisify(execFile)('javac', ['-cp', `${KAFKA_LIBS}/*`, '-d', building, SOURCE]);
    try {
      renameSync(building, dir);
    } catch (error) {
      // Another run compiled it first: its classes will do.
      rmSync(building, { recursive: true, force: true });
      if (!existsSync(join(dir, 'JavaProducer.class'))) throw error;
    }
    return dir;
  })().catch((error: unknown) => {
    compiled = undefined;
    throw error;
  });
  return compiled;
};

const hex = (value: Bytes): string => {
  if (value === null) return '-';
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return bytes.length === 0 ? '_' : bytes.toString('hex');
};

/**
 * Starts one Java producer (a transactional one when `transactionalId` is given) and resolves
 * once it is ready; the first start compiles the source, which takes a few seconds.
 */
export const startJavaProducer = async (options: {
  brokers: readonly string[];
  compression: Compression;
  transactionalId?: string;
}): Promise<JavaProducer> => {
  const classpath = `${await classes()}:${KAFKA_LIBS}/*`;
  const args = ['-cp', classpath, 'JavaProducer', options.brokers.join(','), options.compression];
  if (options.transactionalId) args.push(options.transactionalId);
  const child: ChildProcess = spawn('java', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (!next) return;
    if (line.startsWith('ok')) next.resolve(line.slice(2).trim());
    else next.reject(new Error(`Java producer: ${line}`));
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0))
      w.reject(new Error(`Java producer exited (${code}): ${stderr}`));
  });
  const answer = (timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Java producer did not answer in ${timeoutMs} ms: ${stderr}`)),
        timeoutMs,
      );
      waiting.push({
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  const command = async (line: string): Promise<string> => {
    const reply = answer();
    child.stdin?.write(`${line}\n`);
    return reply;
  };
  await answer(120_000);
  return {
    send: async ({ topic, partition, key = null, value, headers = [] }) => {
      const fields = headers.map(([name, v]) => `${hex(name)}=${hex(v)}`);
      await command(['send', topic, partition, hex(key), hex(value), ...fields].join(' '));
    },
    flush: async () => (await command('flush')).split(' ').filter(Boolean),
    fill: async (topic, count, { partitions = 3, valueBytes = 200 } = {}) => {
      await command(['fill', topic, partitions, count, valueBytes].join(' '));
    },
    begin: async () => void (await command('begin')),
    commit: async () => void (await command('commit')),
    abort: async () => void (await command('abort')),
    close: async () => {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
