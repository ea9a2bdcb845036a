// bulk.js: many requests in order with a bounded window, progress, and one summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runInOrder, summary, targets } from '../../ui/js/bulk.js';
import { useLanguage } from '../../ui/js/i18n.js';

test('1,000 calls: in order, never more than the window in flight, progress to the end', async () => {
  const ids = Array.from({ length: 1000 }, (_, i) => `t${i}`);
  const started = [];
  let inFlight = 0;
  let most = 0;
  const progress = [];
  const failures = await runInOrder(ids, async (id) => {
    started.push(id);
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight -= 1;
    if (id === 't500') throw new Error('the task has failed');
  }, { window: 8, onProgress: (done, total) => progress.push([done, total]) });
  assert.deepEqual(started, ids);
  assert.equal(most, 8);
  assert.deepEqual(progress.at(-1), [1000, 1000]);
  assert.equal(progress.length, 1000);
  assert.deepEqual(failures, [{ id: 't500', message: 'the task has failed' }]);
});

test('pause acts on what runs, resume on what does not', () => {
  const tasks = [0, 1, 2, 3, 4, 5].map((state) => ({ id: `s${state}`, state }));
  assert.deepEqual(targets('pause', tasks).map((t) => t.state), [0, 1, 2]);
  assert.deepEqual(targets('resume', tasks).map((t) => t.state), [3, 4, 5]);
  assert.equal(targets('remove', tasks).length, 6);
});

test('one summary, with the first failures by name and a count of the rest', () => {
  useLanguage('en');
  const failures = Array.from({ length: 7 }, (_, i) => ({ id: `f${i}`, message: 'gone' }));
  const text = summary('pause', 1000, failures, (id) => `name-${id}`);
  assert.deepEqual(text.split('\n'), [
    'Paused 993 tasks.', '7 failed:', 'name-f0: gone', 'name-f1: gone', 'name-f2: gone',
    'name-f3: gone', 'name-f4: gone', '… and 2 more',
  ]);
  assert.equal(summary('remove', 1, [], String), 'Removed 1 task.');
});
