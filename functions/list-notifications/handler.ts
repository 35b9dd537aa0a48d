import type { Logger } from '@aws-lambda-powertools/logger';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { config } from '../../shared/config.js';
import { type FieldIssue, ValidationError } from '../../shared/errors.js';
import { httpHandler, json } from '../../shared/http.js';
import { createDocumentClient } from '../../shared/inbox/client.js';
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

/** Reads `{userId}` from the path and `limit`, `cursor` from the query, naming every field at fault. */
const parseRequest = (event: APIGatewayProxyEventV2): ListRequest => {
  const path = { userId: event.pathParameters?.userId };
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
  readonly logger: Logger;
}

/** Builds the HTTP handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ListHandlerDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2) => {
    const page = await listNotifications(parseRequest(event), deps);
    return json(200, page);
  });

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);

export const handler: Handler = createHandler({
  inbox: new InboxStore(createDocumentClient(settings.inbox), settings.inbox.tableName, logger),
  users: new UserDirectory(settings.users),
  logger,
});
