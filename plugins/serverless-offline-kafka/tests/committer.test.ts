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
});
