// The task store: built from `task.list` and kept current by events, never by polling. Events
// are upserts keyed by task id (one that arrives before the snapshot is harmless), and all the
// events of one animation frame are applied in one pass, then listeners are told once.

export class Store extends EventTarget {
  constructor() {
    super();
    this.tasks = new Map();
    this.queue = [];
    this.scheduled = false;
    this.limits = { download_bps: null, upload_bps: null };
  }

  /** Replaces everything with a `task.list` result. */
  snapshot(list) {
    this.tasks = new Map(list.map((task) => [task.id, still(task)]));
    this.changed(null);
  }

  /** Queues an event; applied with the others of this frame. */
  push(event) {
    this.queue.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => this.flush();
    if (document.hidden) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
  }

  flush() {
    this.scheduled = false;
    const events = this.queue;
    this.queue = [];
    const touched = new Set();
    let structural = false;
    for (const { name, data } of events) {
      switch (name) {
        case 'task.created':
        case 'task.metadataReceived': {
          const total = (data.files ?? []).reduce((sum, f) => sum + f.size, 0);
          const task = this.tasks.get(data.id) ?? blank(data.id);
          task.name = data.name;
          if (total) task.total_bytes = total;
          if (!this.tasks.has(data.id)) structural = true;
          this.tasks.set(data.id, task);
          touched.add(data.id);
          break;
        }
        case 'task.stateUpdated': {
          const task = this.tasks.get(data.task_id) ?? blank(data.task_id);
          if (!this.tasks.has(data.task_id)) structural = true;
          task.state = data.new_state;
          // Paused, finished or failed: nothing moves any more, even before the next numbers.
          this.tasks.set(data.task_id, still(task));
          touched.add(data.task_id);
          break;
        }
        case 'task.updated':
          for (const row of data.tasks) {
            if (!this.tasks.has(row.id)) structural = true;
            this.tasks.set(row.id, still({ ...(this.tasks.get(row.id) ?? {}), ...row }));
            touched.add(row.id);
          }
          break;
        case 'task.removed':
          this.tasks.delete(data.task_id);
          structural = true;
          break;
        case 'session.resync':
          this.tasks = new Map(data.tasks.map((task) => [task.id, still(task)]));
          structural = true;
          break;
        case 'session.limitsUpdated':
          this.limits = data;
          this.dispatchEvent(new Event('limits'));
          break;
        default:
          break;
      }
    }
    for (const event of events) this.dispatchEvent(new CustomEvent('event', { detail: event }));
    this.changed(structural ? null : touched);
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

function blank(id) {
  return {
    id, name: id, state: 0, total_bytes: 0, dl_bytes: 0, dl_speed: 0, ul_bytes: 0, ul_speed: 0,
    connected_peers: 0, connected_seeds: 0, added: Math.floor(Date.now() / 1000),
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
