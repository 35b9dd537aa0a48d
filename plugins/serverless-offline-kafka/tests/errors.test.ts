import { describe, expect, it } from 'vitest';
import { decompress } from '../src/compression.js';
import { compileFilters } from '../src/filter.js';
import { pluginErrors } from './support.js';

const {
  AuthenticationError,
  CompressionError,
  FilterError,
  MappingError,
  OfflineKafkaError,
  RecordBatchError,
  SecretError,
} = pluginErrors;

describe('errors', () => {
  it.each([
    ['MappingError', MappingError],
    ['FilterError', FilterError],
    ['RecordBatchError', RecordBatchError],
    ['CompressionError', CompressionError],
    ['SecretError', SecretError],
    ['AuthenticationError', AuthenticationError],
  ] as const)('%s carries its name, its message and its cause', (name, ErrorClass) => {
    const cause = new Error('underneath');
    const error = new ErrorClass('what went wrong', { cause });
    expect(error).toBeInstanceOf(OfflineKafkaError);
    expect(error.name).toBe(name);
    expect(error.message).toBe('what went wrong');
    expect(error.cause).toBe(cause);
  });

  it('reports a filter that is not JSON with the parser’s error as its cause', () => {
    let thrown: unknown;
    try {
      compileFilters(['{ not json']);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FilterError);
    expect((thrown as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it('reports a corrupt gzip batch as a CompressionError caused by zlib’s error', async () => {
    const failure = await decompress(1, Buffer.from('not gzip')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CompressionError);
    expect(failure).toBeInstanceOf(RecordBatchError);
    expect((failure as Error).message).toMatch(/^gzip: /);
    expect((failure as Error).cause).toBeInstanceOf(Error);
  });
});
