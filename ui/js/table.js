// The task table: filtered, searched, sorted, virtualized. Only the rows in view (plus a
// margin) exist in the DOM, positioned over a spacer as tall as the whole list, so 10,000 tasks
// scroll like 10. Row elements are reused; a render only rewrites the rows that changed.

import * as fmt from './format.js';

const MARGIN_ROWS = 8;

export const COLUMNS = [
  { key: 'name', label: 'Name', width: 'minmax(12rem, 3fr)', text: (t) => t.name, sort: (t) => t.name.toLowerCase() },
  { key: 'state', label: 'State', width: '7rem', text: (t) => fmt.stateName(t.state), sort: (t) => t.state },
  { key: 'progress', label: 'Progress', width: '9rem', text: null, sort: (t) => fmt.percent(t.dl_bytes, t.total_bytes) },
  { key: 'size', label: 'Size', width: '6rem', text: (t) => fmt.size(t.total_bytes), sort: (t) => t.total_bytes },
  { key: 'downloaded', label: 'Done', width: '6rem', text: (t) => fmt.size(t.dl_bytes), sort: (t) => t.dl_bytes },
  { key: 'down', label: '↓ Speed', width: '6.5rem', text: (t) => fmt.speed(t.dl_speed), sort: (t) => t.dl_speed },
  { key: 'up', label: '↑ Speed', width: '6.5rem', text: (t) => fmt.speed(t.ul_speed), sort: (t) => t.ul_speed },
  { key: 'eta', label: 'ETA', width: '5rem', text: fmt.eta, sort: (t) => (t.dl_speed ? (t.total_bytes - t.dl_bytes) / t.dl_speed : Infinity) },
  { key: 'ratio', label: 'Ratio', width: '4.5rem', text: fmt.ratio, sort: (t) => (t.dl_bytes ? t.ul_bytes / t.dl_bytes : 0) },
  { key: 'peers', label: 'Peers', width: '5rem', text: (t) => `${t.connected_peers}/${t.connected_seeds}`, sort: (t) => t.connected_peers },
  { key: 'added', label: 'Added', width: '8.5rem', text: (t) => fmt.date(t.added), sort: (t) => t.added ?? 0 },
];

export const FILTERS = [
  { key: 'all', label: 'All', test: () => true },
  { key: 'downloading', label: 'Downloading', test: (t) => t.state === 1 },
  { key: 'seeding', label: 'Seeding', test: (t) => t.state === 2 },
  { key: 'finished', label: 'Finished', test: (t) => t.state === 3 },
  { key: 'paused', label: 'Paused', test: (t) => t.state === 4 },
  { key: 'error', label: 'Error', test: (t) => t.state === 5 },
  { key: 'preparing', label: 'Preparing', test: (t) => t.state === 0 },
];

export class Table extends EventTarget {
  constructor(store, { head, body, spacer, empty }) {
    super();
    this.store = store;
    this.head = head;
    this.body = body;
    this.spacer = spacer;
    this.empty = empty;
    this.rows = [];
    this.view = [];
    this.index = new Map();
    this.sortedBy = new Map();
    this.selected = new Set();
    this.anchor = null;
    this.focus = null;
    this.filter = 'all';
    this.search = '';
    const saved = JSON.parse(localStorage.getItem('magnetar.table') ?? '{}');
    this.sortKey = saved.sortKey ?? 'added';
    this.sortDesc = saved.sortDesc ?? false;
    this.hidden = new Set(saved.hidden ?? []);
    this.pool = [];
    body.addEventListener('scroll', () => this.paint(), { passive: true });
    new ResizeObserver(() => this.paint()).observe(body);
    body.addEventListener('click', (e) => this.clicked(e));
    body.addEventListener('dblclick', (e) => {
      const id = this.rowId(e.target);
      if (id) this.dispatchEvent(new CustomEvent('open', { detail: id }));
    });
    this.renderHead();
  }

  save() {
    localStorage.setItem('magnetar.table', JSON.stringify({
      sortKey: this.sortKey, sortDesc: this.sortDesc, hidden: [...this.hidden],
    }));
  }

  columns() {
    return COLUMNS.filter((c) => c.key === 'name' || !this.hidden.has(c.key));
  }

  template() {
    return this.columns().map((c) => c.width).join(' ');
  }

  renderHead() {
    this.head.replaceChildren(...this.columns().map((column) => {
      const cell = document.createElement('button');
      cell.className = 'th';
      cell.dataset.key = column.key;
      const arrow = this.sortKey === column.key ? (this.sortDesc ? ' ▾' : ' ▴') : '';
      cell.textContent = column.label + arrow;
      cell.addEventListener('click', () => this.sortBy(column.key));
      return cell;
    }));
    this.head.style.gridTemplateColumns = this.template();
    for (const row of this.pool) row.el.style.gridTemplateColumns = this.template();
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else {
      this.sortKey = key;
      this.sortDesc = false;
    }
    this.save();
    this.renderHead();
    this.refresh();
  }

  toggleColumn(key) {
    if (this.hidden.has(key)) this.hidden.delete(key);
    else this.hidden.add(key);
    this.save();
    for (const row of this.pool) row.build(this.columns());
    this.renderHead();
    this.paint(true);
  }

  setFilter(key) {
    this.filter = key;
    this.refresh();
  }

  setSearch(text) {
    this.search = text.trim().toLowerCase();
    this.refresh();
  }

  /** Whether `task` passes the filter and the search. */
  shows(task) {
    const filter = FILTERS.find((f) => f.key === this.filter) ?? FILTERS[0];
    return filter.test(task) && (!this.search || task.name.toLowerCase().includes(this.search));
  }

  sortColumn() {
    return COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0];
  }

  /** Recomputes the visible list (filter, search, sort), then paints. */
  refresh() {
    const column = this.sortColumn();
    const view = this.store.all().filter((t) => this.shows(t));
    const keyed = view.map((t) => [column.sort(t), t]);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].id < b[1].id ? -1 : 1));
    if (this.sortDesc) keyed.reverse();
    this.view = keyed.map(([, t]) => t.id);
    this.index = new Map(this.view.map((id, i) => [id, i]));
    // What each shown task was sorted by, to know when an update moves it.
    this.sortedBy = new Map(keyed.map(([key, t]) => [t.id, key]));
    for (const id of this.selected) if (!this.store.get(id)) this.selected.delete(id);
    this.empty.hidden = this.store.tasks.size > 0;
    this.paint(true);
  }

  /**
   * These tasks changed: repaint their rows (every cell, the name included), and re-sort and
   * re-filter when one of them now sorts elsewhere or enters or leaves the filter or search.
   */
  update(ids) {
    const column = this.sortColumn();
    for (const id of ids) {
      const task = this.store.get(id);
      const shown = this.index.has(id);
      if (!task || shown !== this.shows(task) || (shown && column.sort(task) !== this.sortedBy.get(id))) {
        this.refresh();
        return;
      }
    }
    for (const row of this.pool) if (ids.has(row.id)) row.fill(this.store.get(row.id), this);
  }

  rowHeight() {
    return parseFloat(getComputedStyle(this.body).getPropertyValue('--row-height')) || 32;
  }

  paint(force = false) {
    const height = this.rowHeight();
    this.spacer.style.height = `${this.view.length * height}px`;
    const first = Math.max(0, Math.floor(this.body.scrollTop / height) - MARGIN_ROWS);
    const count = Math.ceil(this.body.clientHeight / height) + 2 * MARGIN_ROWS;
    const last = Math.min(this.view.length, first + count);
    while (this.pool.length < last - first) this.pool.push(new Row(this.body, this.columns(), this.template()));
    this.pool.forEach((row, slot) => {
      const index = first + slot;
      if (index >= last) {
        row.hide();
        return;
      }
      const id = this.view[index];
      row.place(index, height);
      if (force || row.id !== id) row.fill(this.store.get(id), this);
    });
  }

  rowId(target) {
    return target.closest?.('.row')?.dataset.id ?? null;
  }

  clicked(event) {
    const id = this.rowId(event.target);
    if (!id) return;
    this.select(id, { toggle: event.ctrlKey || event.metaKey, range: event.shiftKey });
  }

  select(id, { toggle = false, range = false } = {}) {
    if (range && this.anchor && this.index.has(this.anchor)) {
      const [a, b] = [this.index.get(this.anchor), this.index.get(id)].sort((x, y) => x - y);
      if (!toggle) this.selected.clear();
      for (let i = a; i <= b; i += 1) this.selected.add(this.view[i]);
    } else if (toggle) {
      if (this.selected.has(id)) this.selected.delete(id);
      else this.selected.add(id);
      this.anchor = id;
    } else {
      this.selected = new Set([id]);
      this.anchor = id;
    }
    this.focus = id;
    this.paint(true);
    this.dispatchEvent(new Event('select'));
  }

  selectAll() {
    this.selected = new Set(this.view);
    this.paint(true);
    this.dispatchEvent(new Event('select'));
  }

  /** Arrow keys: move the focus (and the selection, or extend it with Shift). */
  move(delta, extend) {
    if (!this.view.length) return;
    const at = this.index.get(this.focus) ?? (delta > 0 ? -1 : this.view.length);
    const next = Math.max(0, Math.min(this.view.length - 1, at + delta));
    const id = this.view[next];
    this.select(id, { range: extend });
    const height = this.rowHeight();
    const top = next * height;
    if (top < this.body.scrollTop) this.body.scrollTop = top;
    else if (top + height > this.body.scrollTop + this.body.clientHeight) {
      this.body.scrollTop = top + height - this.body.clientHeight;
    }
  }

  selection() {
    return [...this.selected].filter((id) => this.store.get(id));
  }
}

/** One reusable row element. */
class Row {
  constructor(parent, columns, template) {
    this.el = document.createElement('div');
    this.el.className = 'row';
    this.el.setAttribute('role', 'row');
    this.el.style.gridTemplateColumns = template;
    parent.appendChild(this.el);
    this.id = null;
    this.build(columns);
  }

  build(columns) {
    this.columns = columns;
    this.cells = columns.map((column) => {
      const cell = document.createElement('div');
      cell.className = `td td-${column.key}`;
      if (column.key === 'progress') {
        cell.innerHTML = '<div class="bar"><div class="fill"></div></div><span class="pct"></span>';
      }
      return cell;
    });
    this.el.replaceChildren(...this.cells);
    this.id = null;
  }

  place(index, height) {
    this.el.hidden = false;
    this.el.style.transform = `translateY(${index * height}px)`;
    this.el.classList.toggle('odd', index % 2 === 1);
  }

  hide() {
    this.el.hidden = true;
    this.id = null;
  }

  fill(task, table) {
    if (!task) return;
    this.id = task.id;
    this.el.dataset.id = task.id;
    this.el.dataset.state = task.state;
    this.el.classList.toggle('selected', table.selected.has(task.id));
    this.el.classList.toggle('focused', table.focus === task.id);
    this.el.title = task.error ?? '';
    this.columns.forEach((column, i) => {
      const cell = this.cells[i];
      if (column.key === 'progress') {
        const pct = fmt.percent(task.dl_bytes, task.total_bytes);
        cell.firstChild.firstChild.style.width = `${pct}%`;
        cell.lastChild.textContent = `${pct.toFixed(1)}%`;
        return;
      }
      const text = column.text(task);
      if (cell.textContent !== text) cell.textContent = text;
    });
  }
}
