import { join, resolve } from 'node:path';
import { LOCAL_ISSUER_DIR } from '../../shared/identity/constants.js';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Downloaded things that can be rebuilt (the Kafka jars); ignored by git. */
export const CACHE_DIR = join(ROOT, '.cache');

/** State of local services (data, logs, pid files); ignored by git. */
export const LOCAL_DIR = join(ROOT, '.local');

/** The local issuer's key pair and public key set (shared/identity/local-issuer.ts). */
export const LOCAL_ISSUER_PATH = join(ROOT, LOCAL_ISSUER_DIR);
