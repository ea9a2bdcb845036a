// The one WebSocket to a Magnetar server: requests with promised answers, events, reconnection
// with back-off, and the tokens: each server is sent its own only, and one is saved only when
// the user asks. Nothing here touches the page, except taking `?token=` out of its address.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const REQUEST_TIMEOUT_MS = 30000;
// The keep-alive: a `session.info` every 15 s; when no frame at all has come since one was sent
// 20 s ago, the socket is dead (a sleeping laptop, a NAT that dropped it, a stopped server) and
// is replaced. So a dead connection is seen within 36 s. Frames are checked once a second (once
// a minute in a background tab, where the keep-alive slows down with the check).
const KEEPALIVE_MS = 15000;
const SILENCE_MS = 20000;
// A socket that is not open, with its first `session.info` answered, within 10 s is replaced.
const OPEN_TIMEOUT_MS = 10000;
const CHECK_MS = 1000;

/**
 * The API URL of the server this page came from, or the one the desktop shell gave: `ws` beside
 * the page, so that a page served at `https://nas/magnetar/` by a reverse proxy connects to
 * `wss://nas/magnetar/ws`, and one at `http://host:7345/` to `ws://host:7345/ws`.
 */
export function defaultUrl() {
  if (window.MAGNETAR_API_URL) return window.MAGNETAR_API_URL;
  return wsUrlBeside(location.href);
}

/** The WebSocket URL `ws` relative to the page at `pageUrl` (its query and fragment dropped). */
export function wsUrlBeside(pageUrl) {
  const url = new URL('ws', pageUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * Which server a URL names, as a token belongs to it: scheme, host and port (`ws://nas:7345`).
 * `ws://nas:7345/ws` and `ws://nas:7345/` are one server; `wss://` is another than `ws://`.
 * An unparsable URL is its own key, so that it matches nothing else.
 */
export function serverKey(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return String(url);
  }
}

// The token the page came with belongs to the page's own server only: the desktop shell's
// (MAGNETAR_API_TOKEN, for MAGNETAR_API_URL), or `?token=` in the address of a page this server
// served. Read once at load; `?token=` is then taken out of the address bar and the history.
const pageToken = (() => {
  const injected = window.MAGNETAR_API_TOKEN ?? '';
  const params = new URLSearchParams(location.search);
  const fromQuery = params.get('token') ?? '';
  if (params.has('token')) {
    params.delete('token');
    const query = params.toString() ? `?${params}` : '';
    history.replaceState(history.state, '', `${location.pathname}${query}${location.hash}`);
  }
  return { server: serverKey(defaultUrl()), token: injected || fromQuery };
})();

// Tokens typed in this page's life, per server, kept in memory only (gone on reload).
const typedTokens = new Map();

// Tokens the user asked to remember ("Remember this token"), per server, in localStorage.
const TOKEN_PREFIX = 'magnetar.token.';
const tokenKey = (url) => `${TOKEN_PREFIX}${serverKey(url)}`;

// Earlier versions saved every working token unasked, under the full URL: drop those.
for (const key of Object.keys(localStorage)) {
  if (!key.startsWith(TOKEN_PREFIX)) continue;
  const server = key.slice(TOKEN_PREFIX.length);
  if (serverKey(server) !== server) localStorage.removeItem(key);
}

export function savedToken(url) {
  return localStorage.getItem(tokenKey(url)) ?? '';
}

/** Remembers `token` for the server of `url` (the user asked to), or forgets it when empty. */
export function saveToken(url, token) {
  if (token) localStorage.setItem(tokenKey(url), token);
  else localStorage.removeItem(tokenKey(url));
}

/** Keeps a token the user typed for this page's life, without saving it. */
export function useToken(url, token) {
  if (token) typedTokens.set(serverKey(url), token);
}

/**
 * Forgets the tokens the user gave for the server of `url`: the saved one and any typed in this
 * page's life. (The desktop's or `?token=` token came with the page and is never saved.)
 */
export function forgetToken(url) {
  saveToken(url, '');
  typedTokens.delete(serverKey(url));
}

/** The token to send to the server of `url`: only ever one that belongs to that server. */
export function tokenFor(url) {
  const server = serverKey(url);
  return typedTokens.get(server)
    || (pageToken.server === server ? pageToken.token : '')
    || savedToken(url);
}

/** An API error as the server sent it. */
export class ApiError extends Error {
  constructor(code, message) {
    super(message || `error ${code}`);
    this.code = code;
  }
}

/**
 * Events: `state` (detail: connecting | connected | lost | reconnecting | unauthorized),
 * `open` (after every (re)connection), `event` (detail: {name, data}).
 */
export class Connection extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token || tokenFor(url);
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.closed = false;
    this.socket = null;
  }

  setState(state, detail = '') {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  connect() {
    this.closed = false;
    this.stopWatching();
    this.setState(this.attempt ? 'reconnecting' : 'connecting');
    const url = new URL(this.url);
    if (this.token) url.searchParams.set('token', this.token);
    let socket;
    try {
      socket = new WebSocket(url.toString());
    } catch (e) {
      this.setState('lost', String(e));
      return;
    }
    this.socket = socket;
    this.started = Date.now();
    this.pinged = null;
    this.lastFrame = 0;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (message) => this.received(message.data);
    socket.onclose = () => this.lost(socket);
    this.watch = setInterval(() => this.check(socket), CHECK_MS);
  }

  async opened(socket) {
    try {
      await this.request('session.info', null);
    } catch (e) {
      if (socket !== this.socket) return;
      if (e.code === -6) {
        this.unauthorized = e.message;
        this.closed = true;
        this.stopWatching();
        socket.close();
        this.setState('unauthorized', e.message);
        return;
      }
      // Any other error is no connection: try again, with back-off.
      this.drop(socket);
      return;
    }
    if (socket !== this.socket) return;
    this.attempt = 0;
    this.setState('connected');
    this.dispatchEvent(new Event('open'));
  }

  /** Once a second: the keep-alive, and replacing a socket that is dead or never opened. */
  check(socket) {
    if (socket !== this.socket) return;
    const now = Date.now();
    if (this.state !== 'connected') {
      if (now - this.started > OPEN_TIMEOUT_MS) this.drop(socket);
      return;
    }
    // A keep-alive not answered yet, and no other frame since it: wait for it, up to SILENCE_MS.
    if (this.pinged !== null && this.lastFrame < this.pinged) {
      if (now - this.pinged > SILENCE_MS) this.drop(socket);
      return;
    }
    if (this.pinged === null || now - this.pinged >= KEEPALIVE_MS) {
      this.pinged = now;
      this.request('session.info', null).catch(() => {});
    }
  }

  stopWatching() {
    clearInterval(this.watch);
    this.watch = null;
  }

  /**
   * Gives up on `socket` at once and reconnects: a dead socket's close handshake would take
   * as long as the browser waits for it, so its close event is not awaited.
   */
  drop(socket) {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.close();
    this.lost(socket);
  }

  received(text) {
    this.lastFrame = Date.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.name) {
      this.dispatchEvent(new CustomEvent('event', { detail: message }));
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    clearTimeout(waiter.timer);
    if (message.error === 0) waiter.resolve(message.result);
    else waiter.reject(new ApiError(message.error, message.message));
  }

  lost(socket) {
    if (!socket || socket !== this.socket) return;
    this.socket = null;
    this.stopWatching();
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new ApiError(-100, 'the connection to the server was lost'));
    }
    this.pending.clear();
    if (this.closed) return;
    this.setState('lost');
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    setTimeout(() => {
      if (!this.closed) this.connect();
    }, delay);
  }

  close() {
    this.closed = true;
    this.stopWatching();
    this.socket?.close();
  }

  /** Sends a request; resolves with its result, rejects with an ApiError. */
  request(method, params = null) {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ApiError(-100, 'not connected to the server'));
    }
    const id = `ui-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError(-100, `no answer to ${method}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ id, method, params }));
    });
  }
}
