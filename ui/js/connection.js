// The one WebSocket to a Magnetar server: requests with promised answers, events, a keep-alive,
// and reconnection with back-off. It touches no page: the socket class and the clock are given
// (the browser's by default), so that `node --test` drives it with a fake socket and a fake clock.

import { t } from './i18n.js';

export const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
export const REQUEST_TIMEOUT_MS = 30000;
// The keep-alive: a `session.info` every 15 s; when no frame at all has come since one was sent
// 20 s ago, the socket is dead (a sleeping laptop, a NAT that dropped it, a stopped server) and
// is replaced. So a dead connection is seen within 36 s. Frames are checked once a second (once
// a minute in a background tab, where the keep-alive slows down with the check).
export const KEEPALIVE_MS = 15000;
export const SILENCE_MS = 20000;
// A socket that is not open, with its first `session.info` answered, within 10 s is replaced.
export const OPEN_TIMEOUT_MS = 10000;
const CHECK_MS = 1000;
// WebSocket.OPEN, spelt out: the socket class may be a test's fake.
const OPEN = 1;

/**
 * The API URL of the server this page came from, or the one the desktop shell gave: `ws` beside
 * the page, so that a page served at `https://nas/magnetar/` by a reverse proxy connects to
 * `wss://nas/magnetar/ws`, and one at `http://host:7345/` to `ws://host:7345/ws`.
 */
export function defaultUrl() {
  if (globalThis.MAGNETAR_API_URL) return globalThis.MAGNETAR_API_URL;
  return wsUrlBeside(globalThis.location.href);
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

/** An API error as the server sent it. */
export class ApiError extends Error {
  constructor(code, message) {
    super(message || `error ${code}`);
    this.code = code;
  }
}

/** The browser's socket and clock; tests give fakes with the same shape. */
const browserEnvironment = () => ({
  WebSocket: globalThis.WebSocket,
  now: () => Date.now(),
  setTimeout: (f, ms) => globalThis.setTimeout(f, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
  setInterval: (f, ms) => globalThis.setInterval(f, ms),
  clearInterval: (id) => globalThis.clearInterval(id),
});

/**
 * Events: `state` (detail: {state: connecting | connected | lost | reconnecting | unauthorized,
 * detail}), `open` (after every (re)connection), `event` (detail: {name, data}).
 */
export class Connection extends EventTarget {
  constructor(url, token = '', environment = browserEnvironment()) {
    super();
    this.url = url;
    this.token = token;
    this.env = environment;
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.closed = false;
    this.socket = null;
    this.state = 'connecting';
  }

  setState(state, detail = '') {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  connect() {
    this.closed = false;
    this.stopWatching();
    this.env.clearTimeout(this.retry);
    this.setState(this.attempt ? 'reconnecting' : 'connecting');
    const url = new URL(this.url);
    if (this.token) url.searchParams.set('token', this.token);
    let socket;
    try {
      socket = new this.env.WebSocket(url.toString());
    } catch (e) {
      this.socket = null;
      this.setState('lost', String(e));
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    this.started = this.env.now();
    this.pinged = null;
    this.lastFrame = 0;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (message) => this.received(message.data);
    socket.onclose = () => this.lost(socket);
    this.watch = this.env.setInterval(() => this.check(socket), CHECK_MS);
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
    const now = this.env.now();
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
    this.env.clearInterval(this.watch);
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
    this.lastFrame = this.env.now();
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
    this.env.clearTimeout(waiter.timer);
    if (message.error === 0) waiter.resolve(message.result);
    else waiter.reject(new ApiError(message.error, message.message));
  }

  lost(socket) {
    if (!socket || socket !== this.socket) return;
    this.socket = null;
    this.stopWatching();
    for (const waiter of this.pending.values()) {
      this.env.clearTimeout(waiter.timer);
      waiter.reject(new ApiError(-100, t('error.lost')));
    }
    this.pending.clear();
    if (this.closed) return;
    this.setState('lost');
    this.scheduleRetry();
  }

  /** The next attempt, after the back-off for the attempts so far. */
  scheduleRetry() {
    const delay = retryDelay(this.attempt);
    this.attempt += 1;
    this.retry = this.env.setTimeout(() => {
      if (!this.closed) this.connect();
    }, delay);
  }

  close() {
    this.closed = true;
    this.stopWatching();
    this.env.clearTimeout(this.retry);
    this.socket?.close();
  }

  /** Sends a request; resolves with its result, rejects with an ApiError. */
  request(method, params = null) {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) {
      return Promise.reject(new ApiError(-100, t('error.notConnected')));
    }
    const id = `ui-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = this.env.setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError(-100, t('error.timeout', { method })));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ id, method, params }));
    });
  }
}

/** How long to wait before attempt number `attempt + 1` (0 is the first retry). */
export function retryDelay(attempt) {
  return BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
}
