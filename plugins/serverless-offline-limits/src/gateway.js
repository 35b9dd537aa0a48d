// @ts-check
'use strict';

const { isIP } = require('node:net');

/**
 * What API Gateway does in front of the functions, where serverless-offline 14 does otherwise:
 * the parts of serverless-offline-limits that act on its servers (hapi) and on its WebSocket
 * server (ws), knowing nothing else of serverless-offline.
 *
 * - A request no route matches: an HTTP API answers 404 `{"message":"Not Found"}`;
 *   serverless-offline answers with a list of every route of the service.
 * - CORS: an HTTP API without a CORS configuration adds no CORS header and has no preflight
 *   route; with one, it allows the configured origins only (API Gateway developer guide,
 *   `http-api-cors`). serverless-offline allows every origin, with credentials, so any web page
 *   open in the developer's browser could read the API's answers.
 * - Lambda's Invoke API and API Gateway's `@connections` API take SigV4-signed requests only, which
 *   a web page cannot make; serverless-offline serves both to anyone (the Invoke API with CORS
 *   for every origin). Offline, a request a browser sent (it carries `Origin`) is refused as an
 *   unsigned one is: 403 `{"message":"Missing Authentication Token"}`.
 * - Host names: API Gateway answers for its own domain names only. serverless-offline answers any
 *   `Host`, so a web page whose own name was pointed at 127.0.0.1 (DNS rebinding) would be served
 *   as if it were the API's own origin; offline, a request is answered only when its `Host` is an
 *   IP address, `localhost` (or a name under `.localhost`), or the host serverless-offline was
 *   told to listen on, and refused with 403 `{"message":"Forbidden"}` otherwise.
 * - WebSocket messages: API Gateway closes a connection that sends a message over 128 KB with code
 *   1009 (`apigateway-execution-service-websocket-limits-table`), and any malformed frame closes
 *   that connection only. serverless-offline accepts 100 MiB messages, and a malformed frame
 *   (text that is not UTF-8, a message over the limit) throws in its process and stops it.
 */

/** The body of an HTTP API's answer when no route matches. */
const NOT_FOUND = '{"message":"Not Found"}';

/** The body of an answer to a request for a host name that is not the API's. */
const FORBIDDEN = '{"message":"Forbidden"}';

/** The body of an answer to a request without a signature, where AWS needs one. */
const MISSING_AUTHENTICATION_TOKEN = '{"message":"Missing Authentication Token"}';

/** Largest WebSocket message API Gateway accepts, in bytes. */
const MAX_WEBSOCKET_MESSAGE_BYTES = 128 * 1024;

/** Paths by which serverless-offline's servers of the signed AWS APIs are known. */
const SIGNED_API_PATHS = new Set([
  // Lambda's Invoke API (serverless-offline's lambda port).
  '/2015-03-31/functions/{functionName}/invocations',
  // API Gateway's @connections API (serverless-offline's WebSocket port).
  '/@connections/{connectionId}',
]);

/** The tag serverless-offline puts on the routes of the service's functions. */
const FUNCTION_ROUTE_TAG = 'api';

/**
 * Which origins may read the HTTP API's answers, from `provider.httpApi.cors` as the framework
 * reads it: none without it, every origin with `true` or without `allowedOrigins`.
 * @param {unknown} cors
 * @returns {(origin: string) => boolean}
 */
const corsPolicy = (cors) => {
  if (!cors) return () => false;
  const configured = /** @type {{ allowedOrigins?: string[] }} */ (cors === true ? {} : cors);
  const allowed = configured.allowedOrigins ?? ['*'];
  return (origin) => allowed.includes('*') || allowed.includes(origin);
};

/**
 * Whether a `Host` header names this machine as a client of the local API does: an IP address,
 * `localhost` or a name under `.localhost`, or `listenHost`. A request without one (HTTP/1.0) is
 * no browser's.
 * @param {string | undefined} host
 * @param {string | undefined} listenHost
 */
const isLocalHost = (host, listenHost) => {
  if (host === undefined) return true;
  let name;
  try {
    name = new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return false;
  }
  return (
    isIP(name.replace(/^\[|\]$/g, '')) !== 0 ||
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === listenHost?.toLowerCase()
  );
};

/**
 * @typedef {{
 *   method: string,
 *   path: string,
 *   headers: Record<string, string | undefined>,
 *   route: { method: string, path: string, settings: { tags?: string[] } },
 *   info: { cors?: { isOriginMatch: boolean } | null },
 *   app: { refused?: boolean },
 *   response: any,
 * }} HapiRequest
 * @typedef {{ continue: symbol, response(body: string): any }} HapiToolkit
 * @typedef {{
 *   settings: { compression: unknown },
 *   table(): { path: string }[],
 *   ext(event: string, method: (request: HapiRequest, h: HapiToolkit) => unknown): void,
 * }} HapiServer
 */

/** @param {HapiRequest['route']} route */
const isFunctionRoute = (route) => (route.settings.tags ?? []).includes(FUNCTION_ROUTE_TAG);

/**
 * The HTTP API's answers: 404 as AWS's, and CORS headers for the allowed origins only.
 * @param {HapiServer} server
 * @param {(origin: string) => boolean} corsAllows
 * @param {boolean} corsConfigured
 */
const answerAsHttpApi = (server, corsAllows, corsConfigured) => {
  server.ext('onPreResponse', (request, h) => {
    if (request.app.refused) return h.continue;
    const preflight = request.method === 'options' && request.route.method === '_special';
    if (!isFunctionRoute(request.route) && !(preflight && corsConfigured)) {
      // No route of the service: serverless-offline's catch-all, or a preflight without CORS.
      request.info.cors = { isOriginMatch: false };
      return h.response(NOT_FOUND).code(404).type('application/json').takeover();
    }
    const origin = request.headers.origin;
    if (origin === undefined || corsAllows(origin)) return h.continue;
    // hapi adds the route's CORS headers after this point unless the origin did not match.
    request.info.cors = { isOriginMatch: false };
    const response = request.response;
    const headers = response.isBoom ? response.output.headers : response.headers;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase().startsWith('access-control-')) delete headers[name];
    }
    return h.continue;
  });
};

/**
 * A signed AWS API: refuses what a browser sent, as AWS refuses an unsigned request.
 * @param {HapiServer} server
 */
const refuseBrowsers = (server) => {
  server.ext('onRequest', (request, h) => {
    if (request.headers.origin === undefined) return h.continue;
    return h
      .response(MISSING_AUTHENTICATION_TOKEN)
      .code(403)
      .type('application/json')
      .header('x-amzn-ErrorType', 'MissingAuthenticationTokenException')
      .takeover();
  });
};

/**
 * Any of the servers: refuses a request for a host name that is not this machine's.
 * @param {HapiServer} server
 * @param {string | undefined} listenHost
 */
const refuseForeignHosts = (server, listenHost) => {
  server.ext('onRequest', (request, h) => {
    if (isLocalHost(request.headers.host, listenHost)) return h.continue;
    request.app.refused = true;
    return h.response(FORBIDDEN).code(403).type('application/json').takeover();
  });
};

/**
 * Makes the hapi servers serverless-offline starts answer as AWS: each is recognised by its
 * routes when it starts (serverless-offline adds them all before).
 * @param {{ prototype: { start: (this: HapiServer) => Promise<void> } }} serverClass hapi's Server, as `{ prototype }`
 * @param {{ cors: unknown, host: string | undefined }} options the service's
 *   `provider.httpApi.cors`, and the host serverless-offline listens on
 */
const installHttpAnswers = (serverClass, { cors, host }) => {
  const proto = serverClass.prototype;
  const { start } = proto;
  const corsAllows = corsPolicy(cors);
  proto.start = function () {
    // API Gateway compresses no HTTP API answer (content encoding is a REST API option, off by
    // default: "Enable payload compression for an API in API Gateway"); hapi gzips every answer of
    // 1 KB or more that the client accepts gzip for, in serverless-offline's main thread.
    this.settings.compression = false;
    refuseForeignHosts(this, host);
    const paths = this.table().map((r) => r.path);
    if (paths.some((p) => SIGNED_API_PATHS.has(p))) refuseBrowsers(this);
    else answerAsHttpApi(this, corsAllows, Boolean(cors));
    return start.call(this);
  };
};

/**
 * Bounds the WebSocket server's messages as API Gateway does, and closes a connection that sends
 * a malformed frame instead of letting the error stop the process.
 * @param {{ prototype: { handleUpgrade: Function, options?: unknown } }} webSocketServerClass ws's WebSocketServer
 * @param {{ warning(message: string): void }} log
 */
const installWebSocketLimits = (webSocketServerClass, log) => {
  const proto = webSocketServerClass.prototype;
  const { handleUpgrade } = proto;
  /**
   * @this {{ options: { maxPayload?: number } }}
   * @param {unknown} req @param {unknown} socket @param {unknown} head
   * @param {(ws: import('node:events').EventEmitter, ...rest: unknown[]) => void} done
   */
  proto.handleUpgrade = function (req, socket, head, done) {
    const max = this.options.maxPayload;
    if (!max || max > MAX_WEBSOCKET_MESSAGE_BYTES)
      this.options.maxPayload = MAX_WEBSOCKET_MESSAGE_BYTES;
    return handleUpgrade.call(
      this,
      req,
      socket,
      head,
      (/** @type {import('node:events').EventEmitter} */ ws, /** @type {unknown[]} */ ...rest) => {
        // ws has closed the connection with the frame's status code (1007, 1009) by now.
        ws.on('error', (/** @type {Error} */ error) =>
          log.warning(`WebSocket connection closed: ${error.message}`),
        );
        done(ws, ...rest);
      },
    );
  };
};

module.exports = {
  FORBIDDEN,
  MAX_WEBSOCKET_MESSAGE_BYTES,
  MISSING_AUTHENTICATION_TOKEN,
  NOT_FOUND,
  corsPolicy,
  isLocalHost,
  installHttpAnswers,
  installWebSocketLimits,
};
