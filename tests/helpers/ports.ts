import { createServer } from 'node:net';
import { freePort } from './toxiproxy.js';

/**
 * Ports for a `sls offline start` of a test: never fixed numbers, so that a test run beside
 * `npm start` (3000-3002), or beside another run, takes none of theirs.
 */

const HOST = '127.0.0.1';

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });

/**
 * The first of `count` consecutive free ports: `sls offline start --httpPort <p>` takes `p`, its
 * WebSocket server `p + 1`, its Lambda port `p + 2` (tests/helpers/offline.ts), and the project's
 * Kafka emulator serves its state on `p + 3`, the Lambda port's next
 * (serverless/cluster-view-ports.cjs): four, so that the state server never takes a port
 * another test chose (taken, it is only logged: the stack runs without it).
 */
export const freePorts = async (count = 4): Promise<number> => {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = await freePort();
    if (first + count - 1 > 65_535) continue;
    let free = true;
    for (let port = first + 1; free && port < first + count; port++) free = await canListen(port);
    if (free) return first;
  }
  throw new Error(`no ${count} consecutive free ports on ${HOST}`);
};
