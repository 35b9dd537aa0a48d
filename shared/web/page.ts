/**
 * Serving the page: `GET /` (the HTML, with the page's configuration in it) and its two assets.
 * The files are built into the function's bundle (serverless/esbuild-plugins.cjs), so the same
 * function serves them offline and from the HTTP API on AWS.
 */

/**
 * What the page function puts into the page (`<script id="config">`), read by web/app.ts. Never
 * the user directory: the page is public, and the directory (on AWS, the Cognito usernames) would
 * be a list of targets for password guessing; the page reads it from `GET /users` once signed in.
 */
export interface PageConfig {
  /** Where the page connects: serverless-offline's WebSocket server, or the WebSocket API. */
  readonly websocketUrl: string;
  /**
   * How the page gets a token: from the local-only token route (local stage), by signing in to
   * the stack's Cognito user pool (`InitiateAuth`, `USER_PASSWORD_AUTH`, over HTTPS), or pasted
   * (another issuer's access token).
   */
  readonly signIn:
    | { readonly kind: 'local' }
    | { readonly kind: 'token' }
    | { readonly kind: 'cognito'; readonly region: string; readonly clientId: string };
}

/** The page's files, as the bundle holds them. */
export interface WebAssets {
  readonly 'index.html': string;
  readonly 'app.js': string;
  readonly 'app.css': string;
}

export interface PageResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const TYPES = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

/** Where the page may connect: itself, the WebSocket API, and Cognito's sign-in API. */
const connectSources = (config: PageConfig): string[] => [
  config.websocketUrl,
  ...(config.signIn.kind === 'cognito'
    ? [`https://cognito-idp.${config.signIn.region}.amazonaws.com`]
    : []),
];

const contentSecurityPolicy = (connect: readonly string[]): string =>
  [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["connect-src 'self'", ...connect].join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

/** JSON that cannot close the `<script>` element it sits in. */
const scriptSafeJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** The answer to `GET <path>` for the live inbox page. */
export const servePage = (path: string, assets: WebAssets, config: PageConfig): PageResponse =>
  serveFiles(path, assets, { config, connect: connectSources(config), home: '/' });

/**
 * The answer to `GET <path>` for a page of `assets`: `/` is its HTML (with `config` in it, and a
 * policy that lets it connect to itself and to `connect`), `/assets/<file>` its script and style.
 * `home` is where the page is, for the answer to any other path.
 */
export const serveFiles = (
  path: string,
  assets: WebAssets,
  options: { readonly config: unknown; readonly connect: readonly string[]; readonly home: string },
): PageResponse => {
  const common = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Not content-hashed: a browser checks for a newer copy each time.
    'cache-control': 'no-cache',
  };
  if (path === '/' || path === '') {
    return {
      statusCode: 200,
      headers: {
        ...common,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': contentSecurityPolicy(options.connect),
      },
      // A function, so that no `$` in a name is read as a replacement pattern (`$'`, say).
      body: assets['index.html'].replace('{"__config__": true}', () =>
        scriptSafeJson(options.config),
      ),
    };
  }
  const file = path.replace(/^\/assets\//, '');
  if (file === 'app.js' || file === 'app.css') {
    return {
      statusCode: 200,
      headers: { ...common, 'content-type': TYPES[file] },
      body: assets[file],
    };
  }
  return {
    statusCode: 404,
    headers: { ...common, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({
      error: { code: 'not_found', message: `No such file: the page is at ${options.home}.` },
    }),
  };
};
