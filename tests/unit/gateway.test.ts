import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterEach, describe, expect, it } from 'vitest';
import { awsClientOptions } from '../../shared/aws/client-options.js';
import { ApiGatewayConnections, GATEWAY_DEFAULTS } from '../../shared/realtime/gateway.js';
import { silentLogger } from '../helpers/logger.js';

/**
 * The bounds of one push (`GATEWAY_DEFAULTS`): one retry of a failed post, none of a gone
 * connection, and an answer that does not come given up for a retry. Against a local HTTP server
 * standing in for the `@connections` API (the boundary, not what is tested).
 */

/** An `@connections` stand-in: `answer` decides each request's fate by its rank (0, 1, ...). */
const startGateway = async (
  answer: (rank: number, response: ServerResponse) => void,
): Promise<{ endpoint: string; requests: IncomingMessage[]; close: () => Promise<void> }> => {
  const requests: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    requests.push(request);
    request.resume();
    answer(requests.length - 1, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

const message = { type: 'pong' } as const;

describe('a push to one connection', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  const gatewayAnswering = async (status: number) => {
    const server = await startGateway((_, response) => response.writeHead(status).end('{}'));
    closers.push(server.close);
    return {
      server,
      gateway: new ApiGatewayConnections(server.endpoint, undefined, silentLogger()),
    };
  };

  it('is retried once when it fails, and then given up', async () => {
    const { server, gateway } = await gatewayAnswering(500);
    expect(await gateway.post('c1', message)).toBe('failed');
    // The first attempt and one retry.
    expect(server.requests).toHaveLength(2);
  });

  it('is never retried to a gone connection (410)', async () => {
    const { server, gateway } = await gatewayAnswering(410);
    expect(await gateway.post('c1', message)).toBe('gone');
    expect(server.requests).toHaveLength(1);
  });

  it('gives up an answer that does not come after REQUEST_TIMEOUT_MS, and retries', async () => {
    // The first request is never answered; the retry is. Without the post deadline (a client
    // with the gateway's bounds only), so that nothing but the answer timeout can end the first.
    const server = await startGateway((rank, response) => {
      if (rank > 0) response.writeHead(200).end();
    });
    closers.push(server.close);
    const client = new ApiGatewayManagementApiClient({
      endpoint: server.endpoint,
      ...awsClientOptions(GATEWAY_DEFAULTS, { local: true }),
    });
    closers.push(async () => client.destroy());
    const sent = client.send(
      new PostToConnectionCommand({ ConnectionId: 'c1', Data: new TextEncoder().encode('{}') }),
    );
    await expect(sent).resolves.toBeDefined();
    expect(server.requests).toHaveLength(2);
  }, 10_000);
});
