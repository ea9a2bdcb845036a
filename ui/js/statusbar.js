// The status bar: total speeds and task counts from the store, and the global limits
// (session.setLimits), shown as they are on the server whoever changed them.

import * as fmt from './format.js';
import { plural, t } from './i18n.js';

export class StatusBar {
  constructor(store, elements) {
    this.store = store;
    this.el = elements;
    this.connection = null;
    store.addEventListener('change', () => this.renderTotals());
    store.addEventListener('limits', () => this.showLimits(store.limits));
    elements.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  setConnection(connection) {
    this.connection = connection;
  }

  renderTotals() {
    let down = 0;
    let up = 0;
    let active = 0;
    for (const task of this.store.tasks.values()) {
      down += task.dl_speed;
      up += task.ul_speed;
      if (task.state === 1) active += 1;
    }
    const text = t('status.totals', {
      down: fmt.speedOrZero(down),
      up: fmt.speedOrZero(up),
      tasks: plural('status.tasks', this.store.tasks.size),
      active: fmt.number(active),
    });
    if (this.el.totals.textContent !== text) this.el.totals.textContent = text;
  }

  /**
   * Shows the server's limits in KiB/s, exactly (1,500,000 B/s is 1464.84375, 300 B/s is
   * 0.29296875, never 0), except in a field the user is typing in or has changed and not set.
   */
  showLimits({ download_bps: down, upload_bps: up }) {
    const kib = (bps) => (bps ? String(bps / 1024) : '');
    for (const [input, bps] of [[this.el.down, down], [this.el.up, up]]) {
      const edited = input.value !== input.dataset.shown;
      if (document.activeElement === input || (input.dataset.shown !== undefined && edited)) {
        continue;
      }
      input.value = kib(bps);
      input.dataset.shown = input.value;
    }
  }

  /** Sends only the limits the user changed, in exact bytes per second; the others stay. */
  async submit() {
    const params = {};
    const sent = [];
    for (const [input, key] of [[this.el.down, 'download_bps'], [this.el.up, 'upload_bps']]) {
      if (input.value === input.dataset.shown) continue;
      const bps = limitFromField(input.value);
      if (bps === undefined) {
        this.el.error.textContent = t('limits.bad');
        input.focus();
        return;
      }
      params[key] = bps;
      sent.push([input, input.value]);
    }
    this.el.error.textContent = '';
    if (!sent.length) return;
    try {
      await this.connection.request('session.setLimits', params);
      // What was set is the server's now (its session.limitsUpdated may have come first).
      for (const [input, value] of sent) input.dataset.shown = value;
      const saved = t('limits.saved');
      this.el.error.textContent = saved;
      setTimeout(() => { if (this.el.error.textContent === saved) this.el.error.textContent = ''; }, 2000);
    } catch (e) {
      this.el.error.textContent = e.message;
    }
  }
}

/**
 * Bytes per second from a field in KiB/s: null for empty (no limit), undefined for anything that
 * is not a number of 0 or more. Exact: 1464.84375 KiB/s is 1,500,000 B/s.
 */
export function limitFromField(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return null;
  const kib = Number(trimmed);
  if (!Number.isFinite(kib) || kib < 0) return undefined;
  return Math.round(kib * 1024);
}
