// Acting on many tasks at once (pause, resume, remove 1,000 selected rows): the requests go in
// order with a few in flight, so that none waits behind a thousand others and times out, and the
// outcome is one summary rather than a message per task. Pure: the page gives the call.

import { plural } from './i18n.js';

/** Requests in flight at once: enough to hide the round trip, few enough to never queue long. */
export const WINDOW = 8;

/**
 * Calls `call(id)` for every id, in order, at most `window` at a time; `onProgress(done, total)`
 * after each answer. Resolves with the ids that failed and why: [{id, message}].
 */
export async function runInOrder(ids, call, { window = WINDOW, onProgress = () => {} } = {}) {
  const failures = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next];
      next += 1;
      try {
        await call(id);
      } catch (e) {
        failures.push({ id, message: e?.message ?? String(e) });
      }
      done += 1;
      onProgress(done, ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, ids.length) }, worker));
  return failures;
}

/** Which of `tasks` an action applies to: pause what runs, resume what does not. */
export function targets(action, tasks) {
  if (action === 'pause') return tasks.filter((task) => [0, 1, 2].includes(task.state));
  if (action === 'resume') return tasks.filter((task) => [3, 4, 5].includes(task.state));
  return tasks;
}

/**
 * One message for a bulk action: how many it did, then the failures, the first `shown` of them
 * by name ("… and 12 more" for the rest).
 */
export function summary(action, total, failures, nameOf, shown = 5) {
  const lines = [plural(`bulk.done.${action}`, total - failures.length)];
  if (failures.length) {
    lines.push(plural('bulk.failed', failures.length));
    for (const failure of failures.slice(0, shown)) lines.push(`${nameOf(failure.id)}: ${failure.message}`);
    if (failures.length > shown) lines.push(plural('bulk.more', failures.length - shown));
  }
  return lines.join('\n');
}
