/**
 * The live inbox page: signs in, lists the inbox newest first with the unread ones marked and an
 * unread badge, receives new notifications and read updates over the WebSocket without reload,
 * marks read on click (or Enter), reconnects after a dropped connection and then fetches what it
 * missed, and sends notifications.
 */
import type { InboxNotification } from '../shared/models/index.js';
import {
  PING_ACTION,
  PUSH_PROTOCOL,
  type ServerMessage,
  TOKEN_PROTOCOL_PREFIX,
} from '../shared/realtime/messages.js';
import type { PageConfig } from '../shared/web/page.js';

/** Reconnection: the first wait, doubled after each failure, up to the last. */
const RECONNECT_MS = { FIRST: 500, MAX: 10_000 } as const;
/** A ping well within API Gateway's 10-minute idle timeout. */
const PING_EVERY_MS = 5 * 60_000;
/** The newest notifications shown. */
const PAGE_SIZE = 50;
/**
 * A notification pushed an instant before the storing consumer stored it is not found yet (the
 * two consumers are independent): marking it read is tried again this often, this many times.
 */
const MARK_RETRY = { TIMES: 5, DELAY_MS: 300 } as const;
/**
 * Pushing and storing are two independent consumers, so the inbox read at (re)connect may miss
 * what was pushed before this tab connected but stored after the read, and a pushed notification
 * may not be stored yet. The tab reads the inbox again this long after connecting and after the
 * last push, and again (doubling the wait up to the last) while it knows pushed notifications
 * that are not stored yet, so that the list and the badge settle on the store's truth.
 */
const RECONCILE_MS = { FIRST: 2_000, MAX: 16_000 } as const;
const TOKEN_KEY = 'notifications.token';
const USER_KEY = 'notifications.user';
/**
 * A token is renewed this long before it expires (at most half its lifetime before), and the
 * session reconnected with the new one, the old socket closed only once the new one is open: the
 * server pushes nothing to a session whose token has expired, and closes it.
 */
const RENEW_BEFORE_MS = 60_000;

const config = JSON.parse(document.getElementById('config')?.textContent ?? '{}') as PageConfig;

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

const ui = {
  status: $<HTMLParagraphElement>('status'),
  badge: $<HTMLSpanElement>('badge'),
  signIn: $<HTMLElement>('sign-in'),
  localSignIn: $<HTMLFormElement>('local-sign-in'),
  localUser: $<HTMLSelectElement>('local-user'),
  cognitoSignIn: $<HTMLFormElement>('cognito-sign-in'),
  tokenSignIn: $<HTMLFormElement>('token-sign-in'),
  signInError: $<HTMLParagraphElement>('sign-in-error'),
  app: $<HTMLElement>('app'),
  me: $<HTMLSpanElement>('me'),
  inbox: $<HTMLOListElement>('inbox'),
  empty: $<HTMLParagraphElement>('empty'),
  announcer: $<HTMLParagraphElement>('announcer'),
  markAll: $<HTMLButtonElement>('mark-all'),
  signOut: $<HTMLButtonElement>('sign-out'),
  send: $<HTMLFormElement>('send'),
  to: $<HTMLSelectElement>('to'),
  message: $<HTMLTextAreaElement>('message'),
  sendStatus: $<HTMLParagraphElement>('send-status'),
};

/** The session of this tab (sessionStorage: two tabs may be two users). */
interface Session {
  readonly token: string;
  readonly userId: number;
  /** Cognito's refresh token, kept in memory only: after a reload the page signs in again. */
  readonly refreshToken?: string;
}

interface User {
  readonly id: number;
  readonly name: string;
}

const state = {
  session: undefined as Session | undefined,
  notifications: new Map<string, InboxNotification>(),
  unreadCount: 0,
  socket: undefined as WebSocket | undefined,
  reconnectMs: RECONNECT_MS.FIRST as number,
  reconnectTimer: undefined as ReturnType<typeof setTimeout> | undefined,
  pingTimer: undefined as ReturnType<typeof setInterval> | undefined,
  reconcileTimer: undefined as ReturnType<typeof setTimeout> | undefined,
  renewTimer: undefined as ReturnType<typeof setTimeout> | undefined,
  /** The directory, read once signed in (`GET /users`): the public page never holds it. */
  users: [] as User[],
  /** The server closed this tab's session for good (too many sessions): no reconnecting. */
  closedFor: undefined as string | undefined,
};

const nameOf = (id: number): string => state.users.find((u) => u.id === id)?.name ?? `#${id}`;

const setStatus = (text: string, live = false): void => {
  ui.status.textContent = text;
  ui.status.classList.toggle('live', live);
};

// --- HTTP ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const headers: Record<string, string> = {};
  if (state.session) headers.authorization = `Bearer ${state.session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await response.json().catch(() => ({}))) as {
    error?: { message?: string };
  };
  if (!response.ok) {
    if (response.status === 401) signOut('Your session has ended: sign in again.');
    throw new ApiError(response.status, answer.error?.message ?? `HTTP ${response.status}`);
  }
  return answer as T;
};

// --- Rendering ----------------------------------------------------------------------------

const render = (): void => {
  const newestFirst = [...state.notifications.values()].sort((a, b) =>
    b.createdAt.localeCompare(a.createdAt),
  );
  const items = newestFirst.slice(0, PAGE_SIZE).map((n) => {
    const li = document.createElement('li');
    li.dataset.id = n.id;
    li.className = n.read ? 'read' : 'unread';
    const button = document.createElement('button');
    button.type = 'button';
    const when = new Date(n.createdAt).toLocaleString();
    button.setAttribute(
      'aria-label',
      `${n.read ? '' : 'Unread: '}${n.from.name}: ${n.message}, ${when}${n.read ? '' : '. Press to mark read.'}`,
    );
    const text = document.createElement('span');
    text.textContent = n.message;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `from ${n.from.name} · ${when}`;
    button.append(text, meta);
    button.addEventListener('click', () => void markRead(n.id));
    li.append(button);
    return li;
  });
  ui.inbox.replaceChildren(...items);
  ui.empty.hidden = items.length > 0;
  ui.badge.hidden = state.unreadCount === 0;
  ui.badge.textContent = state.unreadCount > 99 ? '99+' : String(state.unreadCount);
  ui.badge.setAttribute('aria-label', `${state.unreadCount} unread`);
  ui.markAll.disabled = state.unreadCount === 0;
};

// --- Inbox --------------------------------------------------------------------------------

/**
 * Fetches the newest page: the source of truth after a (re)connect. A notification this tab knows
 * (pushed) that the page lacks, though the page covers its time, is not stored yet (pushing and
 * storing are two consumers): it is kept, and counted when unread.
 */
const refresh = async (): Promise<number> => {
  const page = await api<{ notifications: InboxNotification[]; unreadCount: number }>(
    'GET',
    `/me/notifications?limit=${PAGE_SIZE}`,
  );
  const oldest = page.notifications.at(-1)?.createdAt ?? '';
  const full = page.notifications.length >= PAGE_SIZE;
  const known = state.notifications;
  state.notifications = new Map(page.notifications.map((n) => [n.id, n]));
  let extra = 0;
  for (const [id, n] of known) {
    if (state.notifications.has(id) || (full && n.createdAt < oldest)) continue;
    state.notifications.set(id, n);
    if (!n.read) extra++;
  }
  state.unreadCount = page.unreadCount + extra;
  render();
  return extra;
};

/** Reads the inbox again after `waitMs` (replacing a read already planned), as `RECONCILE_MS` says. */
const reconcile = (waitMs: number = RECONCILE_MS.FIRST): void => {
  clearTimeout(state.reconcileTimer);
  state.reconcileTimer = setTimeout(() => {
    if (!state.session) return;
    refresh()
      .then((notStored) => {
        if (notStored > 0 && waitMs < RECONCILE_MS.MAX) reconcile(waitMs * 2);
      })
      .catch(() => {
        if (waitMs < RECONCILE_MS.MAX) reconcile(waitMs * 2);
      });
  }, waitMs);
};

const markRead = async (id: string): Promise<void> => {
  const n = state.notifications.get(id);
  if (!n || n.read) return;
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await api<{ unreadCount: number }>('POST', `/notifications/${id}/read`);
      state.notifications.set(id, { ...n, read: true });
      state.unreadCount = answer.unreadCount;
      render();
      return;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404 || attempt >= MARK_RETRY.TIMES) {
        setStatus(`Could not mark read: ${(error as Error).message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, MARK_RETRY.DELAY_MS));
    }
  }
};

const markAllRead = async (): Promise<void> => {
  // The route marks up to 500 at a time and says how many are left.
  for (;;) {
    const answer = await api<{ marked: number; unreadCount: number }>(
      'POST',
      '/notifications/read',
    );
    for (const [id, n] of state.notifications) state.notifications.set(id, { ...n, read: true });
    state.unreadCount = answer.unreadCount;
    render();
    if (answer.unreadCount === 0 || answer.marked === 0) return;
  }
};

// --- Live updates -------------------------------------------------------------------------

/** A notification pushed to this tab: shown once (pushes are at least once), announced. */
const received = (n: InboxNotification): void => {
  if (state.notifications.has(n.id)) return;
  state.notifications.set(n.id, n);
  if (!n.read) state.unreadCount++;
  ui.announcer.textContent = `New notification from ${n.from.name}: ${n.message}`;
};

const onMessage = (message: ServerMessage): void => {
  if (message.type === 'notification' || message.type === 'notifications') {
    const list = message.type === 'notification' ? [message.notification] : message.notifications;
    for (const n of list) received(n);
    render();
    if (message.type === 'notifications' && message.skipped > 0) {
      // More arrived at once than one message carries: the inbox has them all.
      refresh().catch(() => reconcile());
    } else {
      reconcile();
    }
  } else if (message.type === 'closing') {
    if (message.reason === 'token_expired') {
      // Renewal came too late (a sleeping laptop, say): renew now, and reconnect.
      renew();
    } else {
      state.closedFor = message.message;
    }
  } else if (message.type === 'read') {
    for (const id of message.ids) {
      const n = state.notifications.get(id);
      if (n) state.notifications.set(id, { ...n, read: true });
    }
    state.unreadCount = message.unreadCount;
    render();
  }
};

/**
 * Opens the session's socket. With `replacing`, the socket of an older token stays open until
 * this one is, so that no push falls between the two (the page keys notifications by id).
 */
const connect = (replacing?: WebSocket): void => {
  const session = state.session;
  if (!session) return;
  if (!replacing) setStatus('Connecting…');
  const socket = new WebSocket(config.websocketUrl, [
    PUSH_PROTOCOL,
    `${TOKEN_PROTOCOL_PREFIX}${session.token}`,
  ]);
  state.socket = socket;
  socket.addEventListener('open', () => {
    replacing?.close();
    state.reconnectMs = RECONNECT_MS.FIRST;
    setStatus('Live', true);
    state.pingTimer = setInterval(
      () => socket.send(JSON.stringify({ action: PING_ACTION })),
      PING_EVERY_MS,
    );
    // Catch up: whatever arrived while this tab was not connected.
    refresh()
      .catch((error: Error) => setStatus(`Live, but the inbox did not load: ${error.message}`))
      .finally(() => reconcile());
  });
  socket.addEventListener('message', (event) => {
    try {
      onMessage(JSON.parse(String(event.data)) as ServerMessage);
    } catch {
      // Not ours: ignored.
    }
  });
  socket.addEventListener('close', () => {
    clearInterval(state.pingTimer);
    if (state.socket !== socket || !state.session) return;
    state.socket = undefined;
    if (state.closedFor) {
      setStatus(`Disconnected: ${state.closedFor} Reload the page to connect again.`);
      return;
    }
    const wait = state.reconnectMs;
    state.reconnectMs = Math.min(wait * 2, RECONNECT_MS.MAX);
    setStatus(`Disconnected: reconnecting in ${Math.round(wait / 100) / 10} s…`);
    state.reconnectTimer = setTimeout(connect, wait);
  });
};

// --- Token renewal ------------------------------------------------------------------------

/** The claims of a token (unverified: the page only reads its own token's expiry and user). */
const claimsOf = (token: string): { exp?: number; username?: string } =>
  JSON.parse(atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as {
    exp?: number;
    username?: string;
  };

/** A new token for the session's user, or `undefined` when the page cannot get one itself. */
const freshToken = async (session: Session): Promise<Session | undefined> => {
  if (config.signIn.kind === 'local') {
    const { token } = await api<{ token: string }>('POST', '/local/token', {
      userId: session.userId,
    });
    return { ...session, token };
  }
  if (config.signIn.kind === 'cognito' && session.refreshToken) {
    const result = await cognito(config.signIn, 'REFRESH_TOKEN_AUTH', {
      REFRESH_TOKEN: session.refreshToken,
    });
    return { ...session, token: result.token };
  }
  return undefined;
};

/** Renews the session's token, then reconnects with it; signs out when it cannot. */
function renew(): void {
  const session = state.session;
  if (!session) return;
  clearTimeout(state.renewTimer);
  freshToken(session)
    .then((renewed) => {
      if (state.session !== session) return;
      if (!renewed) {
        signOut('Your session has ended: sign in again.');
        return;
      }
      keep(renewed);
      connect(state.socket);
    })
    .catch(() => {
      // The sign-in service did not answer: try again shortly, while the token lasts.
      state.renewTimer = setTimeout(renew, 5_000);
    });
}

/** Makes `session` the tab's, and plans its renewal before its token expires. */
const keep = (session: Session): void => {
  state.session = session;
  sessionStorage.setItem(TOKEN_KEY, session.token);
  sessionStorage.setItem(USER_KEY, String(session.userId));
  clearTimeout(state.renewTimer);
  const expiresAt = (claimsOf(session.token).exp ?? 0) * 1000;
  const left = expiresAt - Date.now();
  state.renewTimer = setTimeout(renew, Math.max(0, left - Math.min(RENEW_BEFORE_MS, left / 2)));
};

// --- Sign-in ------------------------------------------------------------------------------

const start = (session: Session): void => {
  state.closedFor = undefined;
  keep(session);
  ui.signIn.hidden = true;
  ui.app.hidden = false;
  ui.me.textContent = `#${session.userId}`;
  connect();
  // The directory is for signed-in users only: never in the public page.
  api<{ users: User[] }>('GET', '/users')
    .then(({ users }) => {
      state.users = users;
      ui.me.textContent = nameOf(session.userId);
      ui.to.replaceChildren(
        ...users
          .filter((u) => u.id !== session.userId)
          .map((u) => new Option(u.name, String(u.id))),
      );
      render();
    })
    .catch((error: Error) => setStatus(`The directory did not load: ${error.message}`));
};

function signOut(reason = 'Signed out'): void {
  state.session = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  clearTimeout(state.reconnectTimer);
  clearTimeout(state.reconcileTimer);
  clearTimeout(state.renewTimer);
  const socket = state.socket;
  state.socket = undefined;
  socket?.close();
  state.notifications.clear();
  state.unreadCount = 0;
  render();
  ui.app.hidden = true;
  ui.signIn.hidden = false;
  setStatus(reason);
}

/** The user id a token carries (`username`, as identity reads it), for display only. */
const userOfToken = (token: string): number => Number(claimsOf(token).username);

const signInLocally = async (userId: number): Promise<void> => {
  const { token } = await api<{ token: string }>('POST', '/local/token', { userId });
  start({ token, userId });
};

type CognitoSignIn = Extract<PageConfig['signIn'], { kind: 'cognito' }>;

/** Cognito's `InitiateAuth`, from the browser: no SDK needed for one call. */
const cognito = async (
  signIn: CognitoSignIn,
  flow: 'USER_PASSWORD_AUTH' | 'REFRESH_TOKEN_AUTH',
  parameters: Record<string, string>,
): Promise<{ token: string; refreshToken: string | undefined }> => {
  const response = await fetch(`https://cognito-idp.${signIn.region}.amazonaws.com/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth',
    },
    body: JSON.stringify({ AuthFlow: flow, ClientId: signIn.clientId, AuthParameters: parameters }),
  });
  const answer = (await response.json()) as {
    AuthenticationResult?: { AccessToken?: string; RefreshToken?: string };
    message?: string;
  };
  const token = answer.AuthenticationResult?.AccessToken;
  if (!response.ok || !token) throw new Error(answer.message ?? 'Sign-in failed.');
  return { token, refreshToken: answer.AuthenticationResult?.RefreshToken };
};

const signInWithCognito = async (
  signIn: CognitoSignIn,
  username: string,
  password: string,
): Promise<void> => {
  const { token, refreshToken } = await cognito(signIn, 'USER_PASSWORD_AUTH', {
    USERNAME: username,
    PASSWORD: password,
  });
  start({ token, userId: userOfToken(token), ...(refreshToken ? { refreshToken } : {}) });
};

// --- Wiring -------------------------------------------------------------------------------

const init = (): void => {
  if (config.signIn.kind === 'local') {
    ui.localSignIn.hidden = false;
    // Local stage only, where anyone may take any user's token: whom the sign-in offers.
    api<{ users: User[] }>('GET', '/local/users')
      .then(({ users }) => {
        ui.localUser.replaceChildren(
          ...users.map((u) => new Option(`${u.name} (${u.id})`, String(u.id))),
        );
      })
      .catch((error: Error) => {
        ui.signInError.textContent = `The users did not load: ${error.message}`;
      });
    ui.localSignIn.addEventListener('submit', (event) => {
      event.preventDefault();
      ui.signInError.textContent = '';
      signInLocally(Number(ui.localUser.value)).catch((error: Error) => {
        ui.signInError.textContent = error.message;
      });
    });
  } else if (config.signIn.kind === 'token') {
    ui.tokenSignIn.hidden = false;
    ui.tokenSignIn.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = String(new FormData(ui.tokenSignIn).get('token')).trim();
      try {
        start({ token, userId: userOfToken(token) });
      } catch {
        ui.signInError.textContent = 'That is not an access token.';
      }
    });
  } else {
    const cognito = config.signIn;
    ui.cognitoSignIn.hidden = false;
    ui.cognitoSignIn.addEventListener('submit', (event) => {
      event.preventDefault();
      ui.signInError.textContent = '';
      const data = new FormData(ui.cognitoSignIn);
      signInWithCognito(cognito, String(data.get('username')), String(data.get('password'))).catch(
        (error: Error) => {
          ui.signInError.textContent = error.message;
        },
      );
    });
  }
  ui.markAll.addEventListener('click', () => {
    markAllRead().catch((error: Error) => setStatus(`Could not mark all read: ${error.message}`));
  });
  ui.signOut.addEventListener('click', () => signOut());
  ui.send.addEventListener('submit', (event) => {
    event.preventDefault();
    const toId = Number(ui.to.value);
    ui.sendStatus.textContent = 'Sending…';
    api('POST', '/notifications', { toId, message: ui.message.value })
      .then(() => {
        ui.sendStatus.textContent = `Sent to ${nameOf(toId)}.`;
        ui.message.value = '';
      })
      .catch((error: Error) => {
        ui.sendStatus.textContent = `Not sent: ${error.message}`;
      });
  });
  const token = sessionStorage.getItem(TOKEN_KEY);
  const userId = Number(sessionStorage.getItem(USER_KEY));
  if (token && userId) start({ token, userId });
  else render();
};

init();
