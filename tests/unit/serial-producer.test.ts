import type { Kafka, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaSendError } from '../../shared/errors.js';
import { SerialProducer } from '../../shared/kafka/producer.js';
import { until } from '../helpers/wait.js';

/**
 * SerialProducer against a fake kafkajs client: the broker is not what is tested here (the fault
 * tests run the real one), only who may use a producer when.
 */

interface FakeProducer {
  readonly id: number;
  connects: number;
  disconnects: number;
}

const fakeKafka = (connect: (id: number) => Promise<void> = async () => undefined) => {
  const producers: FakeProducer[] = [];
  const client = {
    producer: () => {
      const fake: FakeProducer = { id: producers.length, connects: 0, disconnects: 0 };
      producers.push(fake);
      return {
        fake,
        connect: async () => {
          fake.connects++;
          await connect(fake.id);
        },
        disconnect: async () => {
          fake.disconnects++;
        },
      } as unknown as Producer;
    },
  } as unknown as Kafka;
  // As createKafka gives it: the client made on first use.
  const kafka = async () => client;
  return { kafka, producers };
};

const idOf = (producer: Producer) => (producer as unknown as { fake: FakeProducer }).fake.id;

/** A promise and the functions that settle it. */
const deferred = <T = void>() => {
  let resolve = (_: T) => {};
  let reject = (_: unknown) => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const reasonOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KafkaSendError);
  return (error as KafkaSendError).reason;
};

describe('SerialProducer', () => {
  it('lets one send at a time use the producer, in the order they came', async () => {
    const { kafka } = fakeKafka();
    const serial = new SerialProducer(kafka, () => ({}));
    const first = deferred<string>();
    const started: string[] = [];
    const a = serial.send(async () => {
      started.push('a');
      return first.promise;
    }, 10_000);
    const b = serial.send(async () => {
      started.push('b');
      return 'b';
    }, 10_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a']);
    first.resolve('a');
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(started).toEqual(['a', 'b']);
  });

  it('keeps the producer for the next send after a success', async () => {
    const { kafka, producers } = fakeKafka();
    const serial = new SerialProducer(kafka, () => ({}));
    const ids = [
      await serial.send(async (p) => idOf(p), 1_000),
      await serial.send(async (p) => idOf(p), 1_000),
    ];
    expect(ids).toEqual([0, 0]);
    expect(producers).toHaveLength(1);
  });

  it('answers in doubt when a send fails under way, refuses sends at once while a new producer connects, then uses it', async () => {
    const connecting = deferred();
    const { kafka, producers } = fakeKafka((id) =>
      id === 1 ? connecting.promise : Promise.resolve(),
    );
    const serial = new SerialProducer(kafka, () => ({}), { refuseAfterFailureMs: 0 });
    const failing = serial.send(async () => {
      throw new Error('connection closed');
    }, 1_000);
    expect(await reasonOf(failing)).toBe('in-doubt');
    expect(serial.reconnecting).toBe(true);
    expect(await reasonOf(serial.send(async (p) => idOf(p), 1_000))).toBe('reconnecting');
    connecting.resolve();
    await until(() => !serial.reconnecting, 1_000, 'the new producer to connect');
    expect(await serial.send(async (p) => idOf(p), 1_000)).toBe(1);
    expect(producers).toHaveLength(2);
    await serial.disconnect();
    expect(producers.map((p) => p.disconnects)).toEqual([1, 1]);
  });

  it('with waitWhileReconnecting, lets a send made while a new producer connects wait for it', async () => {
    const connecting = deferred();
    const { kafka } = fakeKafka((id) => (id === 1 ? connecting.promise : Promise.resolve()));
    const serial = new SerialProducer(kafka, () => ({}), {
      refuseAfterFailureMs: 0,
      waitWhileReconnecting: true,
    });
    expect(
      await reasonOf(
        serial.send(async () => {
          throw new Error('the leader is gone');
        }, 1_000),
      ),
    ).toBe('in-doubt');
    expect(serial.reconnecting).toBe(true);
    const waiting = serial.send(async (p) => idOf(p), 1_000);
    connecting.resolve();
    expect(await waiting).toBe(1);
    await serial.disconnect();
  });

  it('refuses sends for refuseAfterFailureMs after a failure even when a new producer connects at once', async () => {
    let now = 0;
    const { kafka } = fakeKafka();
    const serial = new SerialProducer(kafka, () => ({}), {
      refuseAfterFailureMs: 1_000,
      now: () => now,
    });
    await reasonOf(
      serial.send(async () => {
        throw new Error('the leader is gone');
      }, 1_000),
    );
    // Connected again at once, but within the window: refused, nothing sent.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(serial.reconnecting).toBe(true);
    let sent = false;
    expect(
      await reasonOf(
        serial.send(async () => {
          sent = true;
        }, 1_000),
      ),
    ).toBe('reconnecting');
    expect(sent).toBe(false);
    now = 1_000;
    // The window was timed from the failure: it ends on its timer (real time here).
    await until(() => !serial.reconnecting, 2_000, 'the refusal window to end');
    expect(await serial.send(async () => 'sent', 1_000)).toBe('sent');
    await serial.disconnect();
  });

  it('keeps trying new producers until one connects', async () => {
    const { kafka, producers } = fakeKafka(async (id) => {
      if (id === 1 || id === 2) throw new Error('connection refused');
    });
    const serial = new SerialProducer(kafka, () => ({}), {
      reconnectPauseMs: 0,
      refuseAfterFailureMs: 0,
    });
    await reasonOf(
      serial.send(async () => {
        throw new Error('connection closed');
      }, 1_000),
    );
    await until(() => !serial.reconnecting, 1_000, 'a producer to connect');
    expect(await serial.send(async (p) => idOf(p), 1_000)).toBe(3);
    await serial.disconnect();
    expect(producers.map((p) => p.disconnects)).toEqual([1, 1, 1, 1]);
  });

  it('abandons a send that outlives its deadline, never lets it overlap the next, and disconnects its producer once it settles', async () => {
    const { kafka, producers } = fakeKafka();
    const serial = new SerialProducer(kafka, () => ({}), {
      reconnectPauseMs: 0,
      refuseAfterFailureMs: 0,
    });
    const stuck = deferred<number>();
    let abandoned: () => boolean = () => false;
    const slow = serial.send(async (_, isAbandoned) => {
      abandoned = isAbandoned;
      return stuck.promise;
    }, 20);
    expect(await reasonOf(slow)).toBe('in-doubt');
    expect(abandoned()).toBe(true);
    // The stuck send still runs inside the old producer; the next send gets another one.
    await until(() => !serial.reconnecting, 1_000, 'a new producer');
    expect(await serial.send(async (p) => idOf(p), 1_000)).toBe(1);
    expect(producers[0]?.disconnects).toBe(0);
    stuck.resolve(0);
    await serial.disconnect();
    expect(producers[0]?.disconnects).toBe(1);
  });

  it('says nothing was sent when connecting fails or times out, and never sends on a connection that came too late', async () => {
    const late = deferred();
    const { kafka } = fakeKafka((id) => (id === 0 ? late.promise : Promise.resolve()));
    const serial = new SerialProducer(kafka, () => ({}), {
      reconnectPauseMs: 0,
      refuseAfterFailureMs: 0,
    });
    let sent = false;
    const send = serial.send(async () => {
      sent = true;
    }, 20);
    expect(await reasonOf(send)).toBe('not-connected');
    late.resolve();
    await serial.disconnect();
    expect(sent).toBe(false);
  });

  it('refuses a send whose deadline passes while it waits for the producer, nothing sent', async () => {
    const { kafka } = fakeKafka();
    const serial = new SerialProducer(kafka, () => ({}));
    const first = deferred();
    const holding = serial.send(() => first.promise, 10_000);
    let ran = false;
    const waiting = serial.send(async () => {
      ran = true;
    }, 20);
    expect(await reasonOf(waiting)).toBe('waited-too-long');
    first.resolve();
    await holding;
    expect(ran).toBe(false);
    // The queue still moves on.
    expect(await serial.send(async () => 'next', 1_000)).toBe('next');
  });
});
