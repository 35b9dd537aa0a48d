import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const EVENTS_DIR = join(import.meta.dirname, '../../events');

/** A sample event from `events/`, parsed fresh each time so tests can change it. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(EVENTS_DIR, name), 'utf8')) as T;

/** The sample `events/send-json.json` with its route, body and content type replaced. */
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
  event.headers = { ...event.headers, 'content-type': contentType };
  event.body = typeof body === 'string' ? body : JSON.stringify(body);
  event.isBase64Encoded = false;
  return event;
};

export const context = { awsRequestId: 'test-request-id' };
