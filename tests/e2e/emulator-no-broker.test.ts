import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Offline, startOffline } from '../helpers/offline.js';

/**
 * Without a broker, `sls offline start` still starts and keeps serving: the emulator says what is
 * wrong, retries in the background, and stops cleanly on Ctrl-C.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/emulator-service');

describe('serverless-offline-kafka with no broker to reach', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-no-broker-'));
  let offline: Offline | undefined;

  afterAll(async () => {
    await offline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts anyway, reports the problem, keeps retrying, and stops cleanly', async () => {
    const topics = [
      'ORDERED',
      'FLAKY',
      'SHARED',
      'POSITIONS',
      'FILTERED',
      'SELF_MANAGED',
      'PARTIAL',
      'PARTIAL_DLQ',
      'DEST_LARGE',
      'DEST_FAILING',
    ];
    offline = await startOffline(
      FIXTURE,
      {
        KAFKA_BROKERS: '127.0.0.1:1',
        RECORD_FILE: join(dir, 'deliveries.jsonl'),
        GROUP_PREFIX: 'no-broker',
        POSITION_TIMESTAMP_S: '0',
        ...Object.fromEntries(topics.map((t) => [`TOPIC_${t}`, `no-broker-${t.toLowerCase()}`])),
      },
      { ready: /Offline \[http for lambda\] listening/ },
    );
    await offline.waitForOutput(
      /Kafka ordered: cannot consume \S+ yet: .*; retrying in 5 s/,
      60_000,
    );
    expect(offline.child.exitCode).toBeNull();
    expect(await offline.stop()).toBe(0);
  });
});
