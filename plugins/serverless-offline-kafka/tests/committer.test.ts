import { describe, expect, it } from 'vitest';
import { Committer } from '../src/committer.js';
import { deferred, silent, until } from './support.js';

/** A committer whose broker answers each commit when the test says so. */
const held = () => {
  const sent: bigint[] = [];
  const answers: ReturnType<typeof deferred<void>>[] = [];
  const committer = new Committer(2, {
    mapping: { functionKey: 'consumer', topic: 'notifications' },
    commit: (_, offset) => {
      sent.push(offset);
      const answer = deferred<void>();
      answers.push(answer);
      return answer.promise;
    },
    log: silent,
  });
  return { committer, sent, answer: (i: number) => answers[i]?.resolve() };
};

describe('Committer', () => {
  it('sends one commit at a time and folds the offsets asked for meanwhile into the next', async () => {
    const { committer, sent, answer } = held();
    committer.commit(3n);
    committer.commit(5n);
    committer.commit(8n);
    expect(sent).toEqual([3n]);
    answer(0);
    await until(() => sent.length === 2, 'the folded commit');
    expect(sent).toEqual([3n, 8n]);
    answer(1);
    await committer.settled;
    expect(committer.committed).toBe(8n);
  });

  it('never commits an offset at or below one already asked for', async () => {
    const { committer, sent, answer } = held();
    committer.commit(5n);
    answer(0);
    await committer.settled;
    committer.commit(5n);
    committer.commit(4n);
    await committer.settled;
    expect(sent).toEqual([5n]);
  });

  it('commits nothing more once revoked, not even what was waiting for the commit in flight', async () => {
    const { committer, sent, answer } = held();
    committer.commit(3n);
    committer.commit(6n);
    committer.revoke();
    committer.commit(9n);
    answer(0);
    await committer.settled;
    expect(sent).toEqual([3n]);
  });

  it('tries a failed commit again until the broker accepts it, and stops once revoked', async () => {
    const sent: bigint[] = [];
    let refuse = 2;
    const committer = new Committer(2, {
      mapping: { functionKey: 'consumer', topic: 'notifications' },
      commit: async (_, offset) => {
        sent.push(offset);
        if (refuse-- > 0)
          throw Object.assign(new Error('not the coordinator'), {
            type: 'NOT_COORDINATOR_FOR_GROUP',
          });
      },
      log: silent,
    });
    committer.commit(7n);
    await until(() => committer.committed === 7n, 'the commit accepted at the third try', 5_000);
    expect(sent).toEqual([7n, 7n, 7n]);

    refuse = Number.POSITIVE_INFINITY;
    committer.commit(9n);
    await until(() => sent.length === 5, 'a second try', 5_000);
    committer.revoke();
    await committer.settled;
    const tries = sent.length;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(sent.length).toBe(tries);
    expect(committer.committed).toBe(7n);
  });

  it('gives up at once on a failure that says it is not retriable (the source is stopping)', async () => {
    const sent: bigint[] = [];
    const committer = new Committer(2, {
      mapping: { functionKey: 'consumer', topic: 'notifications' },
      commit: async (_, offset) => {
        sent.push(offset);
        throw Object.assign(new Error('stopping'), { retriable: false });
      },
      log: silent,
    });
    committer.commit(4n);
    await committer.settled;
    expect(sent).toEqual([4n]);
  });
});
