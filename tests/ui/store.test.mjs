// store.js: events applied as upserts in one pass per frame, counts and speeds from one state,
// a stopped task moves nothing, and the speed history stamped with real time.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { HISTORY_MS, Store } from '../../ui/js/store.js';
import { filterCounts, computeView } from '../../ui/js/table.js';

/** A store whose frames run when the test says, on a clock the test moves. */
function manualStore() {
  const frames = [];
  const clock = { now: 1_000_000 };
  const store = new Store({ schedule: (flush) => frames.push(flush), now: () => clock.now });
  const changes = [];
  store.addEventListener('change', (e) => changes.push(e.detail));
  const frame = () => frames.splice(0).forEach((flush) => flush());
  return { store, frame, changes, clock };
}

const summary = (id, extra = {}) => ({
  id, name: id, state: 1, total_bytes: 100, dl_bytes: 0, dl_speed: 0, ul_bytes: 0, ul_speed: 0,
  connected_peers: 0, connected_seeds: 0, added: 1, ...extra,
});

test('all events of a frame are applied together and listeners hear once', () => {
  const { store, frame, changes } = manualStore();
  store.snapshot([summary('a')]);
  changes.length = 0;
  store.push({ name: 'task.updated', data: { tasks: [summary('a', { dl_bytes: 10 })] } });
  store.push({ name: 'task.updated', data: { tasks: [summary('a', { dl_bytes: 20 })] } });
  assert.equal(store.get('a').dl_bytes, 0, 'nothing applied before the frame');
  frame();
  assert.equal(store.get('a').dl_bytes, 20);
  assert.equal(changes.length, 1);
  assert.deepEqual([...changes[0]], ['a']);
});

test('an event for a task not in the snapshot yet creates it, and is structural', () => {
  const { store, frame, changes } = manualStore();
  store.snapshot([]);
  changes.length = 0;
  store.push({ name: 'task.stateUpdated', data: { task_id: 'b', old_state: 0, new_state: 1 } });
  frame();
  assert.equal(store.get('b').state, 1);
  assert.equal(changes[0], null, 'a new row means re-sort and re-count');
  // The sidebar's counts come from the same tasks the rows do.
  assert.equal(filterCounts(store.tasks.values()).get('all'), 1);
  assert.equal(filterCounts(store.tasks.values()).get('downloading'), 1);
});

test('a paused, finished or failed task shows no speed, whatever numbers came with it', () => {
  const { store, frame } = manualStore();
  store.snapshot([summary('a', { dl_speed: 5000, ul_speed: 10 }), summary('p', { state: 4, dl_speed: 12_390 })]);
  assert.equal(store.get('p').dl_speed, 0, 'a paused task in the snapshot');
  store.push({ name: 'task.stateUpdated', data: { task_id: 'a', old_state: 1, new_state: 4 } });
  frame();
  assert.equal(store.get('a').dl_speed, 0);
  assert.equal(store.get('a').ul_speed, 0);
  // A late sample with a speed, for a task that is paused: still 0.
  store.push({ name: 'task.updated', data: { tasks: [summary('a', { state: 4, dl_speed: 900 })] } });
  frame();
  assert.equal(store.get('a').dl_speed, 0);
});

test('a metadata event renames the row and re-sorts by name', () => {
  const { store, frame } = manualStore();
  store.snapshot([summary('zzz'), summary('mmm', { name: 'middle' })]);
  const before = computeView(store.all(), { sortKey: 'name' }).ids;
  assert.deepEqual(before, ['mmm', 'zzz']);
  store.push({ name: 'task.metadataReceived', data: { id: 'zzz', name: 'alpha', files: [{ path: 'a', size: 7 }] } });
  frame();
  assert.equal(store.get('zzz').name, 'alpha');
  assert.equal(store.get('zzz').total_bytes, 7);
  assert.deepEqual(computeView(store.all(), { sortKey: 'name' }).ids, ['zzz', 'mmm']);
  assert.deepEqual(computeView(store.all(), { search: 'alp' }).ids, ['zzz']);
});

test('removal and resync', () => {
  const { store, frame } = manualStore();
  store.snapshot([summary('a'), summary('b')]);
  store.push({ name: 'task.removed', data: { task_id: 'a' } });
  frame();
  assert.deepEqual([...store.tasks.keys()], ['b']);
  store.push({ name: 'session.resync', data: { tasks: [summary('c')] } });
  frame();
  assert.deepEqual([...store.tasks.keys()], ['c']);
});

test('state transitions are told, in order, with where they came from', () => {
  const { store, frame } = manualStore();
  const seen = [];
  store.addEventListener('transition', (e) => seen.push(e.detail));
  store.snapshot([summary('a')]);
  store.push({ name: 'task.stateUpdated', data: { task_id: 'a', old_state: 1, new_state: 2 } });
  store.push({ name: 'task.stateUpdated', data: { task_id: 'a', old_state: 2, new_state: 4 } });
  frame();
  assert.deepEqual(seen, [{ id: 'a', from: 1, to: 2 }, { id: 'a', from: 2, to: 4 }]);
});

test('the speed history is stamped with arrival time and keeps five minutes', () => {
  const { store, frame, clock } = manualStore();
  store.snapshot([summary('a')]);
  for (let second = 1; second <= 400; second += 1) {
    clock.now += 1000;
    store.push({ name: 'task.updated', data: { tasks: [summary('a', { dl_speed: second })] } });
    frame();
  }
  const points = store.historyOf('a');
  const oldest = clock.now - points[0].at;
  const second = clock.now - points[1].at;
  assert.ok(oldest >= HISTORY_MS, `the line starts at the window's left edge (${oldest} ms)`);
  assert.ok(second < HISTORY_MS, 'but only one point is older than the window');
  assert.equal(points[points.length - 1].down, 400);
  assert.equal(points[points.length - 1].at, clock.now);
  // A long pause in the events (a background tab still gets them; a quiet task sends none):
  // the next point is where the clock says, not one step after the last.
  clock.now += 60_000;
  store.push({ name: 'task.updated', data: { tasks: [summary('a', { dl_speed: 1 })] } });
  frame();
  const last = store.historyOf('a').at(-1);
  assert.equal(last.at - store.historyOf('a').at(-2).at, 60_000);
});
