import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { idempotencyTableInput } from '../../shared/idempotency/idempotency-table.js';
import { inboxTableInput } from '../../shared/inbox/inbox-table.js';
import { connectionsTableInput } from '../../shared/realtime/connections-table.js';
import { LOCAL_DIR } from './paths.js';

/**
 * The local inbox store: dynalite (DynamoDB on LevelDB) served in-process, in memory or on disk.
 * Anything that speaks DynamoDB on the port (DynamoDB Local, a dynalite started elsewhere) is
 * reused instead. These functions print nothing: callers report what they got.
 */

export const DYNALITE_PORT = 8000;
/** Where `npm start` keeps the store between runs; ignored by git. */
export const DYNALITE_DIR = join(LOCAL_DIR, 'dynalite');
const HOST = '127.0.0.1';
const TABLE_ACTIVE_TIMEOUT_S = 30;

export interface DynaliteOptions {
  /** `0` picks a free port. */
  readonly port?: number;
  /** Folder of the LevelDB store (created if missing); in memory when omitted. */
  readonly path?: string;
}

export interface DynaliteHandle {
  /** Such as `http://127.0.0.1:8000`: the value for `DYNAMODB_ENDPOINT`. */
  readonly endpoint: string;
  /** Whether this call started the server (else one already answered on the port). */
  readonly started: boolean;
  /** Stops the server if this call started it, closing its store; else does nothing. */
  close(): Promise<void>;
}

/** A DynamoDB client for a local endpoint, signed with dummy credentials. */
const localClient = (endpoint: string, timeoutMs = 5_000): DynamoDBClient =>
  new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
  });

/** Whether something answers DynamoDB's `ListTables` at `endpoint` within `timeoutMs`. */
export const storeAnswers = async (endpoint: string, timeoutMs = 1_000): Promise<boolean> => {
  const client = localClient(endpoint, timeoutMs);
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
};

/**
 * Serves dynalite on `127.0.0.1:port` (default 8000), or reuses a DynamoDB that already answers
 * there. Tables are ACTIVE as soon as created.
 */
export const startDynalite = async ({
  port = DYNALITE_PORT,
  path,
}: DynaliteOptions = {}): Promise<DynaliteHandle> => {
  if (port !== 0 && (await storeAnswers(`http://${HOST}:${port}`))) {
    return { endpoint: `http://${HOST}:${port}`, started: false, close: async () => undefined };
  }
  if (path) mkdirSync(path, { recursive: true });
  const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`Port ${port} is taken by something that does not answer as DynamoDB.`)
          : error,
      ),
    );
    server.listen(port, HOST, resolve);
  });
  const endpoint = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    started: true,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        // Clients keep connections alive; close them too, or close() waits for them forever.
        server.closeAllConnections();
      }),
  };
};

/**
 * Creates the table `input` describes at `endpoint` unless it exists; waits until it is ACTIVE.
 * A table that exists with another key, or without one of the indexes asked for, was made by an
 * older version: it is reported (neither can change on a table), never silently used.
 */
export const ensureTable = async (
  endpoint: string,
  input: CreateTableCommandInput,
): Promise<'created' | 'exists'> => {
  const client = localClient(endpoint);
  const tableName = input.TableName ?? '';
  try {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      const have = new Set(
        [...(Table?.LocalSecondaryIndexes ?? []), ...(Table?.GlobalSecondaryIndexes ?? [])].map(
          (i) => i.IndexName,
        ),
      );
      const wanted = [
        ...(input.LocalSecondaryIndexes ?? []),
        ...(input.GlobalSecondaryIndexes ?? []),
      ].map((i) => i.IndexName);
      const missing = wanted.filter((name) => !have.has(name));
      const keyOf = (schema: typeof input.KeySchema) =>
        (schema ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(', ');
      const differs = [
        ...(keyOf(Table?.KeySchema) === keyOf(input.KeySchema)
          ? []
          : [`its key (${keyOf(Table?.KeySchema)}, now ${keyOf(input.KeySchema)})`]),
        ...missing.map((name) => `its index ${name}`),
      ];
      if (differs.length > 0) {
        throw new Error(
          `The local table ${tableName} at ${endpoint} predates ${differs.join(' and ')}, which cannot change on a table: delete the local store (${DYNALITE_DIR}) and start again.`,
        );
      }
      return 'exists';
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
    let outcome: 'created' | 'exists' = 'created';
    try {
      await client.send(new CreateTableCommand(input));
    } catch (error) {
      // Created meanwhile by another caller.
      if (!(error instanceof ResourceInUseException)) throw error;
      outcome = 'exists';
    }
    await waitUntilTableExists(
      { client, minDelay: 1, maxDelay: 2, maxWaitTime: TABLE_ACTIVE_TIMEOUT_S },
      { TableName: tableName },
    );
    return outcome;
  } finally {
    client.destroy();
  }
};

/** Creates the inbox table at `endpoint` unless it exists; waits until it is ACTIVE. */
export const ensureInboxTable = (endpoint: string, tableName: string) =>
  ensureTable(endpoint, inboxTableInput(tableName));

/**
 * Creates the WebSocket connections table at `endpoint` unless it exists. Its time to live is an
 * AWS feature that dynalite lacks: offline, expired connections stay until removed, and readers
 * skip them as they do on AWS (where expiry is not immediate either).
 */
export const ensureConnectionsTable = (endpoint: string, tableName: string) =>
  ensureTable(endpoint, connectionsTableInput(tableName));

/**
 * Creates the Idempotency-Keys' table at `endpoint` unless it exists. Its time to live is an AWS
 * feature that dynalite lacks; Powertools ignores an expired key all the same.
 */
export const ensureIdempotencyTable = (endpoint: string, tableName: string) =>
  ensureTable(endpoint, idempotencyTableInput(tableName));
