import assets from 'virtual:web-assets';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { config, pageConfig } from '../../shared/config.js';
import { withRequestContext } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { servePage } from '../../shared/web/page.js';

/** The live inbox page (web/): `GET /` and `GET /assets/{file}`. Static: no token needed. */

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);
const page = pageConfig(settings);

export const handler: Handler = withRequestContext(
  { logger },
  async (event: APIGatewayProxyEventV2) => servePage(event.rawPath ?? '/', assets, page),
);
