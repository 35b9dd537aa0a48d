import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Downloaded things that can be rebuilt (the Kafka jars); ignored by git. */
export const CACHE_DIR = join(ROOT, '.cache');

/** State of local services (data, logs, pid files); ignored by git. */
export const LOCAL_DIR = join(ROOT, '.local');
