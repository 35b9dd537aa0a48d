import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** Sample events (`events/`) and Lambda contexts, for tests and benchmarks alike. */

const EVENTS_DIR = join(import.meta.dirname, '../../events');

/** A sample event from `events/`, parsed fresh each time so callers can change it. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(EVENTS_DIR, name), 'utf8')) as T;

/**
 * The sample `events/send-json.json` with its route, body and content type replaced (and its
 * content length to match, as API Gateway sends it).
 */
export const httpEvent = (
  route: string,
  body: unknown,
  contentType = 'application/json',
): APIGatewayProxyEventV2 => {
  const event = loadEvent<APIGatewayProxyEventV2>('send-json.json');
  const [method = 'POST', path = '/'] = route.split(' ');
  event.routeKey = route;
  event.rawPath = path;
  event.requestContext.http.method = method;
  event.requestContext.http.path = path;
  event.body = typeof body === 'string' ? body : JSON.stringify(body);
  event.headers = {
    ...event.headers,
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(event.body)),
  };
  event.isBase64Encoded = false;
  return event;
};

/** A Lambda context with a request id, as the handlers read it. */
export const lambdaContext = (awsRequestId = 'test-request-id') => ({ awsRequestId });

export const context = lambdaContext();

interface AuthorizedEvent {
  headers?: Record<string, string | undefined>;
  requestContext: object;
}

/**
 * `event` as API Gateway delivers it when `userId`'s token passed its JWT authorizer: the
 * sample's claims (a Cognito access token's) with `username` set to the id.
 */
export const asCaller = <E extends AuthorizedEvent>(event: E, userId: number | string): E => {
  const context = event.requestContext as {
    authorizer?: { jwt?: { claims?: Record<string, string> } };
  };
  const claims = context.authorizer?.jwt?.claims;
  if (!claims) throw new Error('the sample event has no authorizer claims');
  claims.username = String(userId);
  return event;
};

/** `event` with no token at all, as the demo's curl commands send it. */
export const withoutToken = <E extends AuthorizedEvent>(event: E): E => {
  delete (event.requestContext as { authorizer?: unknown }).authorizer;
  if (event.headers) delete event.headers.authorization;
  return event;
};
