// connection.js with a fake socket and a fake clock: the keep-alive, a dead socket replaced,
// the back-off between attempts, an error on the first session.info that is not a connection,
// and the URL beside the page (a reverse proxy at a sub-path).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  BACKOFF_MS, Connection, KEEPALIVE_MS, SILENCE_MS, retryDelay, serverKey, wsUrlBeside,
} from '../../ui/js/connection.js';

/** Timers that run only when the test moves the clock. */
class FakeClock {
  constructor() {
    this.time = 0;
    this.timers = new Map();
    this.next = 1;
  }

  now = () => this.time;

  setTimeout = (f, ms) => this.add(f, ms, false);

  setInterval = (f, ms) => this.add(f, ms, true);

  clearTimeout = (id) => this.timers.delete(id);

  clearInterval = (id) => this.timers.delete(id);

  add(f, ms, repeat) {
    const id = this.next++;
    this.timers.set(id, { f, at: this.time + ms, ms, repeat });
    return id;
  }

  /** Moves time forward by `ms`, running each timer when its time comes. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      if (!due) break;
      const [id, timer] = due;
      this.time = timer.at;
      if (timer.repeat) timer.at += timer.ms;
      else this.timers.delete(id);
      timer.f();
      await settle();
    }
    this.time = end;
  }
}

const settle = () => new Promise((r) => setImmediate(r));

/** A socket the test plays the server of. `answer` decides how requests are answered. */
function fakeServer() {
  const sockets = [];
  const server = { sockets, answer: (request) => ({ id: request.id, error: 0, result: {} }) };
  server.Socket = class {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = false;
      sockets.push(this);
    }

    open() {
      this.readyState = 1;
      this.onopen?.();
    }

    send(text) {
      const request = JSON.parse(text);
      this.sent.push(request);
      const reply = server.answer(request, this);
      if (reply) queueMicrotask(() => this.onmessage?.({ data: JSON.stringify(reply) }));
    }

    close() {
      this.closed = true;
      this.readyState = 3;
    }
  };
  return server;
}

function connection(server, clock) {
  const states = [];
  const c = new Connection('ws://nas:7345/ws', 'secret', {
    WebSocket: server.Socket, now: clock.now, setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout, setInterval: clock.setInterval, clearInterval: clock.clearInterval,
  });
  c.addEventListener('state', (e) => states.push(e.detail.state));
  return { c, states };
}

test('connects with the token, and is connected only once session.info is answered', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  const { c, states } = connection(server, clock);
  c.connect();
  assert.equal(new URL(server.sockets[0].url).searchParams.get('token'), 'secret');
  assert.deepEqual(states, ['connecting']);
  server.sockets[0].open();
  await settle();
  assert.equal(server.sockets[0].sent[0].method, 'session.info');
  assert.deepEqual(states, ['connecting', 'connected']);
  c.close();
});

test('a keep-alive every 15 s; a silent socket is replaced within 36 s, then reconnects', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  const { c, states } = connection(server, clock);
  c.connect();
  server.sockets[0].open();
  await settle();
  await clock.advance(KEEPALIVE_MS + 1000);
  const keepAlives = () => server.sockets[0].sent.filter((r) => r.method === 'session.info').length;
  assert.ok(keepAlives() >= 2, 'a keep-alive went out');
  // The server stops answering (SIGSTOP, a sleeping laptop, a NAT that dropped the mapping).
  server.answer = () => null;
  const silentFrom = clock.time;
  while (c.state === 'connected' && clock.time - silentFrom < 60_000) await clock.advance(1000);
  const seen = clock.time - silentFrom;
  assert.notEqual(c.state, 'connected');
  assert.ok(seen <= KEEPALIVE_MS + SILENCE_MS + 1000, `seen dead after ${seen} ms`);
  assert.ok(server.sockets[0].closed, 'the dead socket is closed');
  // It comes back: the next attempt connects.
  server.answer = (request) => ({ id: request.id, error: 0, result: {} });
  await clock.advance(BACKOFF_MS[0]);
  assert.equal(server.sockets.length, 2);
  assert.equal(states.at(-1), 'reconnecting');
  server.sockets[1].open();
  await settle();
  assert.equal(states.at(-1), 'connected');
  c.close();
});

test('frames other than the keep-alive answer count as life', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  const { c } = connection(server, clock);
  c.connect();
  server.sockets[0].open();
  await settle();
  server.answer = () => null; // no answers, but events keep coming
  for (let i = 0; i < 120; i += 1) {
    await clock.advance(1000);
    server.sockets[0].onmessage({ data: JSON.stringify({ name: 'task.updated', data: { tasks: [] } }) });
  }
  assert.equal(c.state, 'connected');
  assert.equal(server.sockets.length, 1);
  c.close();
});

test('back-off grows to 15 s between failed attempts, and resets once connected', async () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map(retryDelay), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  const clock = new FakeClock();
  const server = fakeServer();
  const { c } = connection(server, clock);
  c.connect();
  const attempts = [clock.time];
  for (let i = 0; i < 5; i += 1) {
    server.sockets.at(-1).onclose(); // refused at once
    const before = server.sockets.length;
    while (server.sockets.length === before) await clock.advance(100);
    attempts.push(clock.time);
  }
  const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
  assert.deepEqual(gaps, [500, 1000, 2000, 4000, 8000]);
  server.sockets.at(-1).open();
  await settle();
  assert.equal(c.attempt, 0);
  c.close();
});

test('an error other than -6 on the first session.info is no connection: it retries', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  server.answer = (request) => ({ id: request.id, error: -7, result: null, message: 'internal error: busy' });
  const { c, states } = connection(server, clock);
  c.connect();
  server.sockets[0].open();
  await settle();
  assert.ok(!states.includes('connected'));
  assert.equal(states.at(-1), 'lost');
  await clock.advance(BACKOFF_MS[0]);
  assert.equal(server.sockets.length, 2, 'tried again');
  c.close();
});

test('-6 on the first session.info asks for a token and stops retrying', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  server.answer = (request) => ({ id: request.id, error: -6, result: null, message: 'unauthorized: token' });
  const { c, states } = connection(server, clock);
  c.connect();
  server.sockets[0].open();
  await settle();
  assert.equal(states.at(-1), 'unauthorized');
  await clock.advance(60_000);
  assert.equal(server.sockets.length, 1);
});

test('requests in flight fail when the socket is lost, and none is sent while closed', async () => {
  const clock = new FakeClock();
  const server = fakeServer();
  const { c } = connection(server, clock);
  c.connect();
  server.sockets[0].open();
  await settle();
  server.answer = () => null;
  const pending = c.request('task.pause', { task_id: 'x' });
  server.sockets[0].onclose();
  await assert.rejects(pending, (e) => e.code === -100);
  await assert.rejects(c.request('task.list'), (e) => e.code === -100);
  c.close();
});

test('the WebSocket URL is beside the page, behind a proxy at a sub-path too', () => {
  assert.equal(wsUrlBeside('https://nas/magnetar/'), 'wss://nas/magnetar/ws');
  assert.equal(wsUrlBeside('https://nas/magnetar/index.html?token=x#top'), 'wss://nas/magnetar/ws');
  assert.equal(wsUrlBeside('http://127.0.0.1:7345/'), 'ws://127.0.0.1:7345/ws');
  assert.equal(serverKey('ws://nas:7345/ws'), serverKey('ws://nas:7345/'));
  assert.notEqual(serverKey('wss://nas:7345/ws'), serverKey('ws://nas:7345/ws'));
});
