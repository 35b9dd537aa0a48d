import WebSocket from 'ws';
import { PUSH_PROTOCOL, type ServerMessage } from '../../shared/realtime/messages.js';

/** A WebSocket client (the `ws` package, as a non-browser client would use) for tests. */
export interface TestSocket {
  readonly socket: WebSocket;
  /** The subprotocol the server selected. */
  readonly protocol: string;
  /** Every message received so far, parsed. */
  readonly received: ServerMessage[];
  /** Resolves with the first message (past or future) that `match` accepts. */
  next<T extends ServerMessage>(
    match: (m: ServerMessage) => m is T,
    timeoutMs?: number,
  ): Promise<T>;
  send(data: unknown): void;
  close(): Promise<void>;
  /** Resolves when the connection closes, with the close frame's code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** The subprotocols a client offers: ours, and the token as `bearer.<token>` when there is one. */
export const protocolsFor = (token: string | undefined): string[] =>
  token === undefined ? [PUSH_PROTOCOL] : [PUSH_PROTOCOL, `bearer.${token}`];

/**
 * Opens a connection to `url` offering `protocols`. Rejects with `{ status }` when the server
 * refuses the upgrade (the status `$connect` answered).
 */
export const openSocket = (url: string, protocols: readonly string[]): Promise<TestSocket> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(url, [...protocols]);
    const received: ServerMessage[] = [];
    const waiters = new Set<() => void>();
    const closed = new Promise<{ code: number; reason: string }>((done) => {
      socket.once('close', (code, reason) => done({ code, reason: String(reason) }));
    });
    socket.on('message', (data) => {
      received.push(JSON.parse(String(data)) as ServerMessage);
      for (const check of waiters) check();
    });
    socket.once('unexpected-response', (_request, response) => {
      reject(
        Object.assign(new Error(`upgrade refused: ${response.statusCode}`), {
          status: response.statusCode,
        }),
      );
      socket.terminate();
    });
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      resolve({
        socket,
        protocol: socket.protocol,
        received,
        closed,
        next: (match, timeoutMs = 30_000) =>
          new Promise((done, fail) => {
            const check = () => {
              const found = received.find(match);
              if (!found) return;
              clearTimeout(timer);
              waiters.delete(check);
              done(found);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(
                new Error(
                  `no matching message within ${timeoutMs} ms; received ${JSON.stringify(received).slice(0, 500)}`,
                ),
              );
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
        send: (data) => socket.send(JSON.stringify(data)),
        close: () =>
          new Promise<void>((closed) => {
            if (socket.readyState === WebSocket.CLOSED) {
              closed();
              return;
            }
            socket.once('close', () => closed());
            socket.close();
          }),
      });
    });
  });

/** The status a refused upgrade got. */
export const refusal = async (opening: Promise<TestSocket>): Promise<number> => {
  try {
    const socket = await opening;
    await socket.close();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
};
