import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { patientAdmin } from '../helpers/kafka.js';

/** The test harness's own behaviour, where a mistake would make other tests flaky. */

const unknownTopic = Object.assign(new Error('This server does not host this topic-partition'), {
  type: 'UNKNOWN_TOPIC_OR_PARTITION',
});

/** An admin whose createTopics fails with `error` and whose metadata shows leaders after `calls`. */
const fakeAdmin = (error: Error, calls: number) => {
  let metadataCalls = 0;
  const admin = {
    createTopics: async () => {
      throw error;
    },
    fetchTopicMetadata: async () => {
      metadataCalls += 1;
      if (metadataCalls < calls) throw unknownTopic;
      return { topics: [{ name: 't', partitions: [{ partitionId: 0, leader: 1 }] }] };
    },
  };
  return { admin: admin as unknown as Admin, metadataCalls: () => metadataCalls };
};

describe('patientAdmin', () => {
  const create = { topics: [{ topic: 't' }], waitForLeaders: true };

  it('waits for the leaders of a topic whose metadata was not there yet', async () => {
    const fake = fakeAdmin(unknownTopic, 3);
    await expect(patientAdmin(fake.admin).createTopics(create)).resolves.toBe(true);
    expect(fake.metadataCalls()).toBe(3);
  });

  it('passes any other failure on', async () => {
    const fake = fakeAdmin(
      Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED' }),
      1,
    );
    await expect(patientAdmin(fake.admin).createTopics(create)).rejects.toThrow('denied');
    expect(fake.metadataCalls()).toBe(0);
  });

  it('passes the failure on when the caller did not ask to wait for leaders', async () => {
    const fake = fakeAdmin(unknownTopic, 1);
    await expect(
      patientAdmin(fake.admin).createTopics({ topics: [{ topic: 't' }] }),
    ).rejects.toThrow('does not host');
  });
});
