import type { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { config } from '../../shared/config.js';
import { type FieldIssue, ValidationError } from '../../shared/errors.js';
import { httpHandler, json, routeOf } from '../../shared/http.js';
import {
  type Authenticator,
  type Caller,
  createAuthenticator,
} from '../../shared/identity/authenticator.js';
import { InboxStore } from '../../shared/inbox/store.js';
import { createLogger } from '../../shared/logger.js';
import {
  LIST_QUERY_FIELDS,
  ListPathSchema,
  ListQuerySchema,
  type ListRequest,
  toFieldIssues,
  UserDirectory,
} from '../../shared/models/index.js';
import {
  type ListDependencies,
  listNotifications,
} from '../../shared/use-cases/list-notifications.js';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** The caller's own inbox, with no id in the path. */
const OWN_INBOX_ROUTE = 'GET /me/notifications';
/** The user directory (whom one may send to), for signed-in callers only. */
const USERS_ROUTE = 'GET /users';
/** The demo's route: tokenless requests may use it in demo mode (local stage only). */
const DEMO_ROUTE = 'GET /notifications/{userId}';

/**
 * Reads `{userId}` from the path (the caller's own id on `/me/notifications`) and `limit`,
 * `cursor` from the query, naming every field at fault.
 */
const parseRequest = (event: APIGatewayProxyEventV2, caller: Caller, own: boolean): ListRequest => {
  const path = {
    userId: own && caller.kind === 'user' ? caller.userId : event.pathParameters?.userId,
  };
  const query = { ...event.queryStringParameters };
  const parsedPath = ListPathSchema.safeParse(path);
  const parsedQuery = ListQuerySchema.safeParse(query);
  const issues: FieldIssue[] = [
    ...(parsedPath.success ? [] : toFieldIssues(parsedPath.error, path, ['userId'])),
    ...(parsedQuery.success ? [] : toFieldIssues(parsedQuery.error, query, LIST_QUERY_FIELDS)),
  ];
  if (!parsedPath.success || !parsedQuery.success) throw new ValidationError(issues);
  return { userId: parsedPath.data.userId, ...parsedQuery.data };
};

export interface ListHandlerDependencies extends ListDependencies {
  readonly authenticator: Authenticator;
  readonly logger: Logger;
}

/**
 * Builds the HTTP handler around its dependencies (tests pass fakes). The caller is known before
 * the request is read: a refused token learns nothing, not even whether a user id is valid.
 */
export const createHandler = (deps: ListHandlerDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2, request) => {
    const route = routeOf(event);
    const caller = await deps.authenticator.callerOf(event, { demo: route === DEMO_ROUTE });
    if (caller.kind === 'user') request.add({ callerId: caller.userId });
    if (route === USERS_ROUTE) return json(200, { users: deps.users.list() });
    const page = await listNotifications(
      parseRequest(event, caller, route === OWN_INBOX_ROUTE),
      caller,
      deps,
    );
    return json(200, page);
  });

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);

const users = new UserDirectory(settings.users);

export const handler: Handler = createHandler({
  inbox: new InboxStore(createDocumentClient(settings.dynamodb), settings.inbox.tableName, logger),
  users,
  authenticator: createAuthenticator(settings.identity, { users, logger }),
  logger,
});
