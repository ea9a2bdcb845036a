// The status bar: total speeds and task counts from the store, and the global limits
// (session.setLimits), shown as they are on the server whoever changed them.

import * as fmt from './format.js';

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
    const count = this.store.tasks.size;
    this.el.totals.textContent = `↓ ${fmt.speed(down) || '0 B/s'}  ↑ ${fmt.speed(up) || '0 B/s'}  ·  ${count} task${count === 1 ? '' : 's'}, ${active} downloading`;
  }

  showLimits({ download_bps: down, upload_bps: up }) {
    const kib = (bps) => (bps ? String(Math.round(bps / 1024)) : '');
    if (document.activeElement !== this.el.down) this.el.down.value = kib(down);
    if (document.activeElement !== this.el.up) this.el.up.value = kib(up);
  }

  async submit() {
    const value = (input) => {
      const text = input.value.trim();
      if (!text) return null;
      return Math.round(Number(text) * 1024);
    };
    this.el.error.textContent = '';
    try {
      await this.connection.request('session.setLimits', {
        download_bps: value(this.el.down),
        upload_bps: value(this.el.up),
      });
      this.el.error.textContent = 'Saved';
      setTimeout(() => { if (this.el.error.textContent === 'Saved') this.el.error.textContent = ''; }, 2000);
    } catch (e) {
      this.el.error.textContent = e.message;
    }
  }
}
