// The task store: built from `task.list` and kept current by events, never by polling. Events
// are upserts keyed by task id (one that arrives before the snapshot is harmless), and all the
// events of one animation frame are applied in one pass, then listeners are told once.
//
// It also keeps each task's speed history, stamped with the time each figure arrived, for the
// last five minutes: events keep coming while the page is open, whatever pane is shown and
// whether or not the tab is in the background, so the chart is true to the clock.
//
// No DOM: the page passes how to schedule a flush (an animation frame), the unit tests run it
// at once or by hand.

export const HISTORY_MS = 5 * 60 * 1000;

/** Events a store emits: `change` (detail: a Set of ids, or null for "anything"), `limits`,
 *  `event` (each raw event, after it is applied) and `transition` ({id, from, to}). */
export class Store extends EventTarget {
  constructor({ schedule = defaultSchedule, now = () => Date.now() } = {}) {
    super();
    this.tasks = new Map();
    this.history = new Map();
    this.queue = [];
    this.scheduled = false;
    this.schedule = schedule;
    this.now = now;
    this.limits = { download_bps: null, upload_bps: null };
    // The session's labels (session.getLabels, then session.labelsUpdated).
    this.labels = [];
  }

  /** Replaces everything with a `task.list` result. */
  snapshot(list) {
    this.tasks = new Map(list.map((task) => [task.id, still(task)]));
    for (const id of this.history.keys()) if (!this.tasks.has(id)) this.history.delete(id);
    for (const task of this.tasks.values()) this.sample(task);
    this.changed(null);
  }

  /** Queues an event; applied with the others of this frame. */
  push(event) {
    this.queue.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.flush());
  }

  flush() {
    this.scheduled = false;
    const events = this.queue;
    this.queue = [];
    const touched = new Set();
    const transitions = [];
    let structural = false;
    for (const { name, data } of events) {
      switch (name) {
        case 'task.created':
        case 'task.metadataReceived': {
          const total = (data.files ?? []).reduce((sum, f) => sum + f.size, 0);
          const task = this.tasks.get(data.id) ?? blank(data.id, this.now());
          task.name = data.name;
          if (total) task.total_bytes = total;
          if (!this.tasks.has(data.id)) structural = true;
          this.tasks.set(data.id, task);
          touched.add(data.id);
          break;
        }
        case 'task.stateUpdated': {
          const task = this.tasks.get(data.task_id) ?? blank(data.task_id, this.now());
          if (!this.tasks.has(data.task_id)) structural = true;
          task.state = data.new_state;
          // Paused, finished or failed: nothing moves any more, even before the next numbers.
          this.tasks.set(data.task_id, still(task));
          this.sample(task);
          touched.add(data.task_id);
          transitions.push({ id: data.task_id, from: data.old_state, to: data.new_state });
          break;
        }
        case 'task.updated':
          for (const row of data.tasks) {
            if (!this.tasks.has(row.id)) structural = true;
            // A row is the whole summary: a field it lacks is gone (`error` after a retry,
            // `moving` once a move ends), not kept from the last one.
            const task = still({ ...row });
            this.tasks.set(row.id, task);
            this.sample(task);
            touched.add(row.id);
          }
          break;
        case 'task.removed':
          this.tasks.delete(data.task_id);
          this.history.delete(data.task_id);
          structural = true;
          break;
        case 'session.resync':
          this.snapshot(data.tasks);
          structural = true;
          break;
        case 'session.limitsUpdated':
          this.limits = data;
          this.dispatchEvent(new Event('limits'));
          break;
        case 'session.labelsUpdated':
          this.setLabels(data.labels);
          structural = true;
          break;
        default:
          break;
      }
    }
    for (const event of events) this.dispatchEvent(new CustomEvent('event', { detail: event }));
    for (const transition of transitions) {
      this.dispatchEvent(new CustomEvent('transition', { detail: transition }));
    }
    this.changed(structural ? null : touched);
  }

  /** The session's labels changed (or were first read). */
  setLabels(labels) {
    this.labels = Array.isArray(labels) ? labels : [];
    this.dispatchEvent(new Event('labels'));
  }

  /** Records `task`'s speeds now, and forgets what is older than the chart shows. */
  sample(task) {
    const at = this.now();
    let points = this.history.get(task.id);
    if (!points) {
      points = [];
      this.history.set(task.id, points);
    }
    const last = points[points.length - 1];
    const down = task.dl_speed ?? 0;
    const up = task.ul_speed ?? 0;
    if (last && last.down === down && last.up === up && at - last.at < 1000) return;
    points.push({ at, down, up });
    // Keep one point older than the window: the line starts at its left edge, not after it.
    while (points.length > 2 && points[1].at <= at - HISTORY_MS) points.shift();
  }

  /** The speed history of task `id` within the last five minutes (plus one point before). */
  historyOf(id) {
    return this.history.get(id) ?? [];
  }

  /** Tells listeners what changed: a set of ids, or null for "anything, re-sort". */
  changed(ids) {
    this.dispatchEvent(new CustomEvent('change', { detail: ids }));
  }

  get(id) {
    return this.tasks.get(id);
  }

  all() {
    return [...this.tasks.values()];
  }
}

/** In a page: the next animation frame, or a quarter second in a background tab (where
 *  animation frames stop, and the events must still be applied). */
function defaultSchedule(flush) {
  if (document.hidden) setTimeout(flush, 250);
  else requestAnimationFrame(flush);
}

function blank(id, now) {
  return {
    id, name: id, state: 0, total_bytes: 0, dl_bytes: 0, dl_speed: 0, ul_bytes: 0, ul_speed: 0,
    connected_peers: 0, connected_seeds: 0, added: Math.floor(now / 1000),
  };
}

/**
 * A paused (4), finished (3) or failed (5) task moves nothing: its speeds are 0 whatever numbers
 * came with it (a last sample taken before it stopped), so no row or total shows one.
 */
function still(task) {
  if (task.state >= 3) {
    task.dl_speed = 0;
    task.ul_speed = 0;
  }
  return task;
}
