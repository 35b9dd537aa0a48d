import { dirname } from 'node:path';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import * as z from 'zod/mini';
import { config } from '../../shared/config.js';
import { ConfigError, ValidationError } from '../../shared/errors.js';
import { httpHandler, json, readBody, routeOf } from '../../shared/http.js';
import { ensureLocalIssuer } from '../../shared/identity/local-issuer.js';
import { createLogger } from '../../shared/logger.js';
import { toFieldIssues, UserDirectory } from '../../shared/models/index.js';
import {
  issueLocalToken,
  type LocalTokenDependencies,
} from '../../shared/use-cases/local-token.js';

/**
 * `POST /local/token` `{"userId": 1}`: a token of the local issuer, for the page's sign-in on the
 * local stage; `GET /local/users`: whom that sign-in offers. serverless.yml defines this function on the local stage only (a packaging test
 * proves an AWS stage has no such route), and it refuses to start outside local mode.
 */

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

const BodySchema = z.strictObject({
  userId: z
    .int({ error: 'expected a user id (a positive whole number, such as 1)' })
    .check(z.positive({ error: 'expected a user id (a positive whole number, such as 1)' })),
});

/** Builds the HTTP handler around its dependencies (tests pass fakes). */
export const createHandler = (
  deps: LocalTokenDependencies & { readonly logger: ReturnType<typeof createLogger> },
): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2) => {
    if (routeOf(event) === 'GET /local/users') return json(200, { users: deps.users.list() });
    const body = readBody(event, ['json']);
    const parsed = BodySchema.safeParse(body.value);
    if (!parsed.success) {
      throw new ValidationError(toFieldIssues(parsed.error, body.value, ['userId']));
    }
    return json(200, await issueLocalToken(parsed.data.userId, deps));
  });

// Created once per container and reused by warm invocations.
const settings = config();
if (settings.identity.mode !== 'local') {
  throw new ConfigError(
    'Invalid configuration: the local token route exists in AUTH_MODE=local only',
  );
}
const logger = createLogger(settings.serviceName);
let issuer: ReturnType<typeof ensureLocalIssuer> | undefined;

export const handler: Handler = createHandler({
  // The key pair next to the key set the functions verify with (.local/identity).
  issuer: () => {
    issuer ??= ensureLocalIssuer(dirname(settings.identity.keySetFile));
    return issuer;
  },
  users: new UserDirectory(settings.users),
  logger,
});
