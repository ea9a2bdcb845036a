// The task table: filtered, searched, sorted, virtualized. Only the rows in view (plus a
// margin) exist in the DOM, positioned over a spacer as tall as the whole list, so 10,000 tasks
// scroll like 10. Row elements are reused; a render only rewrites the rows that changed.
//
// It is an ARIA grid (WAI-ARIA Authoring Practices): one tab stop, the focus stays on the grid
// and `aria-activedescendant` names the current row, which screen readers announce with its
// cells; rows carry `aria-selected`. Its keyboard shortcuts work only while it has the focus.

import * as fmt from './format.js';
import { t } from './i18n.js';

const MARGIN_ROWS = 8;

export const COLUMNS = [
  { key: 'name', label: 'col.name', width: 'minmax(12rem, 3fr)', text: (task) => fmt.visible(task.name), sort: (task) => task.name.toLowerCase() },
  { key: 'state', label: 'col.state', width: '8.5rem', text: fmt.stateText, sort: (task) => task.state },
  { key: 'progress', label: 'col.progress', width: '9rem', text: null, sort: (task) => fmt.percent(task.dl_bytes, task.total_bytes) },
  { key: 'label', label: 'col.label', width: '7rem', text: (task) => fmt.visible(task.label ?? ''), sort: (task) => (task.label ?? '').toLowerCase() },
  { key: 'size', label: 'col.size', width: '6rem', text: (task) => fmt.size(task.total_bytes), sort: (task) => task.total_bytes },
  { key: 'downloaded', label: 'col.downloaded', width: '6rem', text: (task) => fmt.size(task.dl_bytes), sort: (task) => task.dl_bytes },
  { key: 'down', label: 'col.down', width: '6.5rem', text: (task) => fmt.speed(task.dl_speed), sort: (task) => task.dl_speed },
  { key: 'up', label: 'col.up', width: '6.5rem', text: (task) => fmt.speed(task.ul_speed), sort: (task) => task.ul_speed },
  { key: 'eta', label: 'col.eta', width: '5.5rem', text: fmt.eta, sort: (task) => (task.dl_speed ? (task.total_bytes - task.dl_bytes) / task.dl_speed : Infinity) },
  { key: 'ratio', label: 'col.ratio', width: '5rem', text: fmt.ratio, sort: (task) => task.ratio ?? (task.dl_bytes ? task.ul_bytes / task.dl_bytes : 0) },
  { key: 'peers', label: 'col.peers', width: '6.5rem', text: (task) => `${fmt.number(task.connected_peers)}/${fmt.number(task.connected_seeds)}`, sort: (task) => task.connected_peers },
  { key: 'added', label: 'col.added', width: '9.5rem', text: (task) => fmt.date(task.added), sort: (task) => task.added ?? 0 },
];

export const FILTERS = [
  { key: 'all', label: 'filter.all', test: () => true },
  { key: 'downloading', label: 'filter.downloading', test: (task) => task.state === 1 },
  { key: 'seeding', label: 'filter.seeding', test: (task) => task.state === 2 },
  { key: 'finished', label: 'filter.finished', test: (task) => task.state === 3 },
  { key: 'paused', label: 'filter.paused', test: (task) => task.state === 4 },
  { key: 'error', label: 'filter.error', test: (task) => task.state === 5 },
  { key: 'preparing', label: 'filter.preparing', test: (task) => task.state === 0 },
];

/** How many tasks each filter holds, counted in one pass. */
export function filterCounts(tasks) {
  const counts = new Map(FILTERS.map((filter) => [filter.key, 0]));
  for (const task of tasks) {
    for (const filter of FILTERS) if (filter.test(task)) counts.set(filter.key, counts.get(filter.key) + 1);
  }
  return counts;
}

/**
 * Whether `task` passes filter `filterKey`, the (lower-case) `search` and `label`: undefined
 * for any label, null for tasks without one, else that label's name.
 */
export function passes(task, filterKey, search, label = undefined) {
  const filter = FILTERS.find((f) => f.key === filterKey) ?? FILTERS[0];
  return filter.test(task) && (!search || task.name.toLowerCase().includes(search))
    && (label === undefined || (task.label ?? null) === label);
}

/** How many tasks each label holds, and how many have none (key null). */
export function labelCounts(tasks) {
  const counts = new Map([[null, 0]]);
  for (const task of tasks) {
    const key = task.label ?? null;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * The shown tasks in order: `ids`, and what each was sorted by (to know when an update moves
 * it). Ties are broken by id, so that equal rows never swap places between two renders.
 */
export function computeView(tasks, {
  filter = 'all', search = '', label = undefined, sortKey = 'added', sortDesc = false,
} = {}) {
  const column = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[0];
  const keyed = tasks.filter((task) => passes(task, filter, search, label)).map((task) => [column.sort(task), task]);
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].id < b[1].id ? -1 : 1));
  if (sortDesc) keyed.reverse();
  return {
    ids: keyed.map(([, task]) => task.id),
    sortedBy: new Map(keyed.map(([key, task]) => [task.id, key])),
  };
}

export class Table extends EventTarget {
  constructor(store, { grid, head, body, spacer, empty }) {
    super();
    this.store = store;
    this.grid = grid;
    this.head = head;
    this.body = body;
    this.spacer = spacer;
    this.empty = empty;
    this.view = [];
    this.index = new Map();
    this.sortedBy = new Map();
    this.selected = new Set();
    this.anchor = null;
    this.focus = null;
    this.filter = 'all';
    this.search = '';
    this.label = undefined;
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
    grid.addEventListener('keydown', (e) => this.keyPressed(e));
    // The Menu key may come as a contextmenu event on the grid itself (no keydown): the same menu.
    grid.addEventListener('contextmenu', (e) => {
      if (e.target !== grid) return;
      e.preventDefault();
      this.openMenuAtFocus();
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

  /** The header row: one column header per column, each a sort button with its state. */
  renderHead() {
    this.head.replaceChildren(...this.columns().map((column) => {
      const header = document.createElement('div');
      header.setAttribute('role', 'columnheader');
      header.className = 'th-cell';
      const sorted = this.sortKey === column.key;
      header.setAttribute('aria-sort', sorted ? (this.sortDesc ? 'descending' : 'ascending') : 'none');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'th';
      button.dataset.key = column.key;
      button.textContent = t(column.label);
      button.title = t('sort.by', { column: t(column.label) });
      if (sorted) {
        const arrow = document.createElement('span');
        arrow.setAttribute('aria-hidden', 'true');
        arrow.textContent = this.sortDesc ? ' ▾' : ' ▴';
        button.append(arrow);
      }
      button.addEventListener('click', () => this.sortBy(column.key));
      header.append(button);
      return header;
    }));
    this.head.style.gridTemplateColumns = this.template();
    for (const row of this.pool) row.el.style.gridTemplateColumns = this.template();
  }

  /** The language changed: the header and every row again. */
  relabel() {
    this.grid.setAttribute('aria-label', t('grid.label'));
    this.renderHead();
    this.refresh();
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

  /** Shows only the tasks of label `name` (null: without a label; undefined: any). */
  setLabel(name) {
    this.label = name;
    this.refresh();
  }

  setSearch(text) {
    this.search = text.trim().toLowerCase();
    this.refresh();
  }

  /** Whether `task` passes the filter and the search. */
  shows(task) {
    return passes(task, this.filter, this.search, this.label);
  }

  sortColumn() {
    return COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0];
  }

  /** Recomputes the visible list (filter, search, sort), then paints. */
  refresh() {
    const { ids, sortedBy } = computeView(this.store.all(), {
      filter: this.filter, search: this.search, label: this.label, sortKey: this.sortKey, sortDesc: this.sortDesc,
    });
    this.view = ids;
    this.index = new Map(ids.map((id, i) => [id, i]));
    this.sortedBy = sortedBy;
    for (const id of this.selected) if (!this.store.get(id)) this.selected.delete(id);
    if (this.focus && !this.store.get(this.focus)) this.focus = null;
    this.grid.setAttribute('aria-rowcount', String(ids.length + 1));
    this.empty.hidden = ids.length > 0;
    this.empty.textContent = this.store.tasks.size ? t('empty.filtered') : t('empty');
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
    // The header is as wide as the rows: the body's scrollbar, if any, is not under it.
    const gutter = `${this.body.offsetWidth - this.body.clientWidth}px`;
    if (this.head.style.paddingRight !== gutter) this.head.style.paddingRight = gutter;
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
    // The current row, for screen readers, while it is drawn (it is, after any keyboard move).
    const focusedRow = this.focus && this.pool.find((row) => row.id === this.focus);
    if (focusedRow) this.grid.setAttribute('aria-activedescendant', focusedRow.el.id);
    else this.grid.removeAttribute('aria-activedescendant');
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

  /** Moves the current row to `id` without changing the selection (Ctrl+arrows). */
  setFocus(id) {
    this.focus = id;
    this.scrollTo(this.index.get(id) ?? 0);
    this.paint(true);
  }

  /** Arrow keys: move the current row (and the selection, or extend it with Shift). */
  move(delta, { extend = false, only = false } = {}) {
    if (!this.view.length) return;
    const at = this.index.get(this.focus) ?? (delta > 0 ? -1 : this.view.length);
    const next = Math.max(0, Math.min(this.view.length - 1, at + delta));
    const id = this.view[next];
    this.scrollTo(next);
    if (only) this.setFocus(id);
    else this.select(id, { range: extend });
  }

  scrollTo(index) {
    const height = this.rowHeight();
    const top = index * height;
    if (top < this.body.scrollTop) this.body.scrollTop = top;
    else if (top + height > this.body.scrollTop + this.body.clientHeight) {
      this.body.scrollTop = top + height - this.body.clientHeight;
    }
  }

  /** Rows in one page of the grid, for Page Up and Page Down. */
  pageRows() {
    return Math.max(1, Math.floor(this.body.clientHeight / this.rowHeight()) - 1);
  }

  /**
   * The grid's keys (active only while it has the focus): arrows, Home/End, Page Up/Down move;
   * Shift extends, Ctrl moves without selecting and Ctrl+Space toggles a row; Ctrl+A selects
   * all; Space pauses or resumes; Enter opens the details; Delete removes; the Menu key or
   * Shift+F10 opens the actions menu; `/` goes to the search box.
   */
  keyPressed(e) {
    if (e.target !== this.grid) return; // a header button has its own keys
    const only = e.ctrlKey || e.metaKey;
    const moves = {
      ArrowDown: 1, ArrowUp: -1, PageDown: this.pageRows(), PageUp: -this.pageRows(),
      Home: -Infinity, End: Infinity,
    };
    const emit = (name, detail) => this.dispatchEvent(new CustomEvent(name, { detail }));
    if (e.key in moves) {
      const delta = moves[e.key];
      const at = this.index.get(this.focus) ?? -1;
      const step = Number.isFinite(delta) ? delta : (delta > 0 ? this.view.length : -at);
      this.move(step, { extend: e.shiftKey, only });
    } else if (only && e.key.toLowerCase() === 'a') {
      this.selectAll();
    } else if (e.key === ' ' && only) {
      if (this.focus) this.select(this.focus, { toggle: true });
    } else if (e.key === ' ') {
      emit('action', 'toggle');
    } else if (e.key === 'Enter') {
      if (this.focus) emit('open', this.focus);
    } else if (e.key === 'Delete') {
      emit('action', 'remove');
    } else if (e.key === 'ContextMenu' || (e.shiftKey && e.key === 'F10')) {
      this.openMenuAtFocus();
    } else if (e.key === '/') {
      emit('search');
    } else {
      return;
    }
    e.preventDefault();
  }

  /** Asks for the actions menu beside the current row (from the keyboard). */
  openMenuAtFocus() {
    if (this.focus && !this.selected.has(this.focus)) this.select(this.focus);
    const row = this.pool.find((r) => r.id === this.focus)?.el;
    const rect = (row ?? this.body).getBoundingClientRect();
    this.dispatchEvent(new CustomEvent('menu', { detail: { x: rect.left + 24, y: rect.top + rect.height / 2 } }));
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
      cell.setAttribute('role', 'gridcell');
      if (column.key === 'progress') {
        cell.innerHTML = '<span class="bar" aria-hidden="true"><span class="fill"></span></span><span class="pct"></span>';
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
    this.el.setAttribute('aria-rowindex', String(index + 2));
  }

  hide() {
    this.el.hidden = true;
    this.id = null;
    // A hidden row names no task: nothing can find it by a removed task's id.
    delete this.el.dataset.id;
    this.el.removeAttribute('id');
  }

  fill(task, table) {
    if (!task) return;
    this.id = task.id;
    this.el.id = `row-${task.id}`;
    this.el.dataset.id = task.id;
    this.el.dataset.state = task.state;
    const selected = table.selected.has(task.id);
    this.el.classList.toggle('selected', selected);
    this.el.setAttribute('aria-selected', String(selected));
    this.el.classList.toggle('focused', table.focus === task.id);
    this.el.title = task.error ? fmt.visible(task.error) : '';
    this.columns.forEach((column, i) => {
      const cell = this.cells[i];
      if (column.key === 'progress') {
        const pct = fmt.percent(task.dl_bytes, task.total_bytes);
        cell.firstChild.firstChild.style.width = `${pct}%`;
        const text = fmt.percentText(task.dl_bytes, task.total_bytes);
        if (cell.lastChild.textContent !== text) cell.lastChild.textContent = text;
        return;
      }
      const text = column.text(task);
      if (cell.textContent !== text) cell.textContent = text;
    });
  }
}
