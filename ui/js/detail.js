// The detail pane of the selected task: Overview, Files (a virtualized tree with a checkbox per
// file and folder, sent as task.setFiles), Peers, Pieces (a canvas) and Speed (the last 5
// minutes on a real time axis, from the store's history). While the pane is open it asks for
// the one task's status once a second: a detail view, not polling of the list, which comes from
// events only. The tabs follow the WAI-ARIA tabs pattern (arrow keys move between them).

import * as fmt from './format.js';
import { language, t } from './i18n.js';
import { buildTree, findDir, FileChoices, visibleRows } from './filetree.js';
import { HISTORY_MS } from './store.js';
import { drawPieces, PLAYABLE } from './player.js';

const FILE_ROW = 30;
const TABS = ['overview', 'files', 'peers', 'pieces', 'speed', 'trackers'];

export class Detail {
  constructor(connection, store, elements) {
    this.connection = connection;
    this.store = store;
    this.el = elements;
    this.id = null;
    this.tab = 'overview';
    this.metadata = null;
    this.status = null;
    this.pool = [];
    this.timer = null;
    // Folders the user closed, per task: kept while the page lives, whatever reloads.
    this.collapsedByTask = new Map();
    this.choices = new FileChoices((files) => this.connection.request('task.setFiles', { task_id: this.id, files }));
    this.tabButtons = [...this.el.pane.querySelectorAll('[role=tab]')];
    for (const button of this.tabButtons) {
      button.addEventListener('click', () => this.show(button.dataset.tab));
      button.addEventListener('keydown', (e) => this.tabKey(e));
    }
    this.el.close.addEventListener('click', () => this.close());
    this.el.pane.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.defaultPrevented) {
        e.preventDefault();
        this.close();
      }
    });
    this.el.filesBody.addEventListener('scroll', () => this.paintFiles(), { passive: true });
    this.el.filesBody.addEventListener('change', (e) => this.fileToggled(e));
    this.el.filesBody.addEventListener('click', (e) => this.folderClicked(e));
    store.addEventListener('event', (e) => {
      const { name, data } = e.detail;
      if (name === 'task.metadataReceived' && data.id === this.id) this.loadMetadata();
      if (name === 'task.removed' && data.task_id === this.id) this.open(null);
    });
    store.addEventListener('change', (e) => {
      if (this.id && (!e.detail || e.detail.has(this.id)) && this.tab === 'overview') this.render();
    });
  }

  setConnection(connection) {
    this.connection = connection;
  }

  /** Shows task `id` (or closes the pane for null). */
  open(id) {
    if (id === this.id && id) return;
    this.id = id;
    this.metadata = null;
    this.status = null;
    this.choices.reset([]);
    clearInterval(this.timer);
    this.el.pane.hidden = !id;
    if (!id) return;
    this.loadMetadata();
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
    this.render();
  }

  /** Closes the pane and gives the focus back to the table. */
  close() {
    this.open(null);
    this.el.returnFocus?.focus();
  }

  show(tab) {
    this.tab = tab;
    for (const button of this.tabButtons) {
      const active = button.dataset.tab === tab;
      button.classList.toggle('active', active);
      button.setAttribute('aria-selected', String(active));
      button.tabIndex = active ? 0 : -1;
    }
    for (const name of TABS) this.el.tabs[name].hidden = name !== tab;
    this.render();
  }

  /** Left/Right (and Home/End) move between the tabs, as in every tab list. */
  tabKey(e) {
    const at = TABS.indexOf(this.tab);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = TABS[(to + TABS.length) % TABS.length];
    this.show(next);
    this.tabButtons.find((b) => b.dataset.tab === next)?.focus();
  }

  async loadMetadata() {
    const id = this.id;
    try {
      const metadata = await this.connection.request('task.getMetadata', { task_id: id });
      if (id !== this.id) return;
      this.metadata = metadata;
      if (!this.choices.pending()) {
        this.choices.reset((metadata.files ?? []).map((f, i) => f.selected ?? this.status?.selected?.[i] ?? true));
      }
      this.render();
    } catch {
      /* the task may be gone; the next event closes the pane */
    }
  }

  async tick() {
    const id = this.id;
    if (document.hidden || !id) return;
    const stamp = this.choices.stamp;
    try {
      const status = await this.connection.request('task.getStatus', { task_id: id });
      if (id !== this.id) return;
      this.status = status;
      this.choices.serverSaid(status.selected, stamp);
    } catch {
      /* keep the last one */
    }
    this.render();
  }

  render() {
    if (!this.id) return;
    const task = this.store.get(this.id);
    if (!task) return;
    if (this.tab === 'overview') this.renderOverview(task);
    if (this.tab === 'files') this.paintFiles();
    if (this.tab === 'peers') this.renderPeers();
    if (this.tab === 'pieces') this.renderPieces();
    if (this.tab === 'speed') this.renderSpeed(task);
    if (this.tab === 'trackers') this.renderTrackers();
  }

  /** The task's trackers (task.getTrackers), asked for when the tab is shown and every 5 s. */
  async renderTrackers() {
    const id = this.id;
    const now = Date.now();
    if (this.trackersFor !== id || now - (this.trackersAt ?? 0) > 5000) {
      this.trackersFor = id;
      this.trackersAt = now;
      try {
        this.trackers = await this.connection.request('task.getTrackers', { task_id: id });
      } catch {
        this.trackers = [];
      }
      if (id !== this.id) return;
    }
    const trackers = Array.isArray(this.trackers) ? this.trackers : (this.trackers?.trackers ?? []);
    const body = this.el.trackersBody;
    if (!trackers.length) {
      body.replaceChildren(Object.assign(document.createElement('p'), { textContent: t('trackers.none') }));
      return;
    }
    const table = document.createElement('table');
    table.className = 'peers';
    const head = document.createElement('tr');
    for (const key of ['trackers.url', 'trackers.tier', 'trackers.status']) {
      head.append(Object.assign(document.createElement('th'), { scope: 'col', textContent: t(key) }));
    }
    const thead = document.createElement('thead');
    thead.append(head);
    const tbody = document.createElement('tbody');
    for (const tracker of trackers) {
      const status = !tracker.supported ? 'trackers.unsupported' : tracker.announcing ? 'trackers.announcing' : 'trackers.idle';
      const tr = document.createElement('tr');
      for (const value of [fmt.visible(tracker.url), fmt.number(tracker.tier ?? 0), t(status)]) {
        tr.append(Object.assign(document.createElement('td'), { textContent: value }));
      }
      tbody.append(tr);
    }
    table.append(thead, tbody);
    body.replaceChildren(table);
  }

  renderOverview(task) {
    const m = this.metadata ?? {};
    const rows = [
      ['fact.name', fmt.visible(task.name)],
      ['fact.state', fmt.stateName(task.state) + (task.error ? `: ${fmt.visible(task.error)}` : '')],
      ['fact.hash', task.id],
      ['fact.label', task.label ? fmt.visible(task.label) : t('label.none')],
      ['fact.folder', fmt.visible(m.download_dir ?? this.saveDir ?? '') || t('none')],
      ['fact.size', fmt.size(task.total_bytes)],
      ['fact.downloaded', `${fmt.size(task.dl_bytes)} (${fmt.percentText(task.dl_bytes, task.total_bytes)})`],
      ['fact.uploaded', fmt.size(task.ul_bytes)],
      ['fact.downloadedEver', fmt.size(task.downloaded_ever ?? task.dl_bytes)],
      ['fact.downloading', fmt.duration(runningSeconds(task, 'seconds_downloading', 1))],
      ['fact.seeding', fmt.duration(runningSeconds(task, 'seconds_seeding', 2))],
      ['fact.ratio', fmt.ratio(task)],
      ['fact.peers', `${fmt.number(task.connected_peers)} / ${fmt.number(task.connected_seeds)}`],
      ['fact.added', fmt.date(task.added)],
      ['fact.files', m.files ? fmt.number(m.files.length) : t('none')],
      ['fact.creator', fmt.visible(m.creator) || t('none')],
      ['fact.comment', fmt.visible(m.comment) || t('none')],
    ];
    // Rewritten in place (not rebuilt), so that text a user is selecting stays selected.
    let list = this.el.tabs.overview.querySelector('dl');
    if (!list || list.children.length !== rows.length * 2) {
      list = document.createElement('dl');
      list.className = 'facts';
      for (let i = 0; i < rows.length; i += 1) list.append(document.createElement('dt'), document.createElement('dd'));
      this.el.tabs.overview.replaceChildren(list);
    }
    rows.forEach(([label, value], i) => {
      const [dt, dd] = [list.children[2 * i], list.children[2 * i + 1]];
      const name = t(label);
      if (dt.textContent !== name) dt.textContent = name;
      if (dd.textContent !== value) dd.textContent = value;
    });
  }

  collapsed() {
    if (!this.collapsedByTask.has(this.id)) this.collapsedByTask.set(this.id, new Set());
    return this.collapsedByTask.get(this.id);
  }

  /** The file tree, virtualized like the task table. */
  paintFiles() {
    const files = this.metadata?.files ?? [];
    if (this.treeFor !== this.metadata) {
      this.tree = buildTree(files);
      this.treeFor = this.metadata;
    }
    const collapsed = this.collapsed();
    const rows = visibleRows(this.tree, collapsed);
    const held = (i) => this.status?.files?.[i] ?? 0;
    const body = this.el.filesBody;
    this.el.filesSpacer.style.height = `${rows.length * FILE_ROW}px`;
    this.el.filesWaiting.hidden = files.length > 0;
    const first = Math.max(0, Math.floor(body.scrollTop / FILE_ROW) - 5);
    const last = Math.min(rows.length, first + Math.ceil(body.clientHeight / FILE_ROW) + 10);
    while (this.pool.length < last - first) {
      const row = document.createElement('div');
      row.className = 'file';
      row.setAttribute('role', 'listitem');
      row.innerHTML = '<input type="checkbox"><button type="button" class="file-toggle"></button><span class="file-name"></span><span class="file-size"></span><span class="bar" aria-hidden="true"><span class="fill"></span></span><span class="file-actions"><button type="button" class="file-play">▶</button><button type="button" class="file-open">↗</button><button type="button" class="file-link">URL</button></span>';
      body.appendChild(row);
      this.pool.push(row);
    }
    this.pool.forEach((row, slot) => {
      const at = first + slot;
      row.hidden = at >= last;
      if (row.hidden) return;
      const { dir, file, depth } = rows[at];
      const [box, toggle, name, sizeEl, bar, actions] = row.children;
      const [play, open, link] = actions.children;
      actions.hidden = Boolean(dir);
      const members = dir ? dir.all : [file.index];
      const size = members.reduce((sum, i) => sum + files[i].size, 0);
      const have = members.reduce((sum, i) => sum + held(i), 0);
      const chosen = members.filter((i) => this.choices.isSelected(i)).length;
      row.style.transform = `translateY(${at * FILE_ROW}px)`;
      row.classList.toggle('dir', Boolean(dir));
      toggle.hidden = !dir;
      name.hidden = Boolean(dir);
      const label = dir ? dir.name : file.name;
      if (dir) {
        delete row.dataset.index;
        row.dataset.dir = dir.path;
        const open = !collapsed.has(dir.path);
        toggle.textContent = `${open ? '▾' : '▸'} ${fmt.visible(dir.name)}`;
        toggle.setAttribute('aria-expanded', String(open));
        toggle.title = fmt.visible(dir.path);
        toggle.style.paddingLeft = `${depth * 1.1}rem`;
        box.setAttribute('aria-label', t('files.folder', { name: fmt.visible(dir.path) }));
      } else {
        delete row.dataset.dir;
        row.dataset.index = file.index;
        name.textContent = fmt.visible(label);
        name.title = fmt.visible(files[file.index].path);
        name.style.paddingLeft = `${depth * 1.1}rem`;
        box.setAttribute('aria-label', t('files.download', { name: fmt.visible(files[file.index].path) }));
        play.hidden = !PLAYABLE.test(file.name);
        play.setAttribute('aria-label', t('files.play', { name: fmt.visible(file.name) }));
        play.title = play.getAttribute('aria-label');
        // "Open in player": the desktop app's own player, for this machine only.
        open.hidden = !this.canOpenPlayers;
        open.setAttribute('aria-label', t('files.openInPlayer', { name: fmt.visible(file.name) }));
        open.title = open.getAttribute('aria-label');
        link.setAttribute('aria-label', t('files.link', { name: fmt.visible(file.name) }));
        link.title = link.getAttribute('aria-label');
      }
      box.checked = chosen === members.length;
      box.indeterminate = chosen > 0 && chosen < members.length;
      sizeEl.textContent = `${fmt.size(have)} / ${fmt.size(size)}`;
      bar.firstChild.style.width = `${fmt.percent(have, size)}%`;
      row.classList.toggle('skipped', chosen === 0);
    });
  }

  /**
   * A click on a folder's name opens or closes it; on a file's ▶, ↗ or URL, plays it here,
   * opens it in the desktop's player or copies its stream link.
   */
  folderClicked(event) {
    const action = event.target.closest('.file-play, .file-open, .file-link');
    if (action) {
      const index = Number(action.closest('.file').dataset.index);
      const name = this.metadata?.files?.[index]?.path ?? '';
      const kinds = { 'file-play': 'play', 'file-open': 'openplayer', 'file-link': 'copylink' };
      const kind = kinds[[...action.classList].find((c) => c in kinds)];
      this.el.pane.dispatchEvent(new CustomEvent(kind, { detail: { id: this.id, index, name } }));
      return;
    }
    const toggle = event.target.closest('.file-toggle');
    const row = toggle?.closest('.file.dir');
    if (!row) return;
    const collapsed = this.collapsed();
    const path = row.dataset.dir;
    if (collapsed.has(path)) collapsed.delete(path);
    else collapsed.add(path);
    this.paintFiles();
  }

  async fileToggled(event) {
    const row = event.target.closest('.file');
    if (!row || event.target.type !== 'checkbox') return;
    const members = row.dataset.dir
      ? findDir(this.tree, row.dataset.dir)?.all ?? []
      : [Number(row.dataset.index)];
    this.el.filesError.hidden = true;
    const done = this.choices.toggle(members, event.target.checked);
    this.paintFiles();
    try {
      await done;
    } catch (e) {
      this.el.filesError.textContent = e.message;
      this.el.filesError.hidden = false;
    }
    this.paintFiles();
  }

  renderPeers() {
    const peers = this.status?.peers ?? [];
    const table = document.createElement('table');
    table.className = 'peers';
    const head = document.createElement('thead');
    const headRow = document.createElement('tr');
    for (const key of ['peers.client', 'peers.address', 'peers.down', 'peers.up', 'peers.downloaded', 'peers.uploaded']) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = t(key);
      headRow.append(th);
    }
    head.append(headRow);
    table.append(head);
    const body = document.createElement('tbody');
    for (const peer of peers) {
      const tr = document.createElement('tr');
      for (const value of [fmt.visible(peer.client), fmt.visible(peer.address), fmt.speed(peer.dl_speed), fmt.speed(peer.ul_speed), fmt.size(peer.dl_bytes), fmt.size(peer.ul_bytes)]) {
        const td = document.createElement('td');
        td.textContent = value;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    const note = document.createElement('p');
    note.textContent = peers.length ? '' : t('peers.none');
    this.el.tabs.peers.replaceChildren(...(peers.length ? [table] : []), note);
  }

  renderPieces() {
    const pieces = this.status?.pieces ?? [];
    const canvas = this.el.piecesCanvas;
    drawPieces(canvas, pieces);
    const held = pieces.filter(Boolean).length;
    const text = t('pieces.count', { held: fmt.number(held), total: fmt.number(pieces.length) });
    this.el.piecesText.textContent = text;
    canvas.setAttribute('aria-label', text);
  }

  /**
   * The last five minutes of this task's speeds, on a real time axis: the store records each
   * figure when it arrives, whatever tab is shown; a figure holds until the next one (a step
   * line), and the last one holds until now.
   */
  renderSpeed(task) {
    const canvas = this.el.speedCanvas;
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const height = canvas.height;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const now = Date.now();
    const points = this.store.historyOf(this.id);
    const top = Math.max(0, ...points.map((p) => Math.max(p.down, p.up)));
    const peak = Math.max(1, top);
    const style = getComputedStyle(canvas);
    const plotTop = 16;
    const plotBottom = height - 16;
    const x = (at) => width * (1 - Math.min(1, Math.max(0, (now - at) / HISTORY_MS)));
    const y = (value) => plotBottom - (value / peak) * (plotBottom - plotTop);
    // A faint line each minute, labelled with how long ago.
    const minutes = new Intl.NumberFormat(language(), { style: 'unit', unit: 'minute', unitDisplay: 'narrow' });
    ctx.strokeStyle = style.getPropertyValue('--line') || '#ccc';
    ctx.fillStyle = style.color;
    ctx.font = '11px system-ui, sans-serif';
    for (let m = 0; m <= 5; m += 1) {
      const at = x(now - m * 60000);
      ctx.beginPath();
      ctx.moveTo(at, plotTop);
      ctx.lineTo(at, plotBottom);
      ctx.stroke();
      const label = m === 0 ? '0' : minutes.format(-m);
      ctx.textAlign = m === 0 ? 'right' : m === 5 ? 'left' : 'center';
      ctx.fillText(label, at, height - 3);
    }
    const line = (key, color) => {
      if (!points.length) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      points.forEach((p, i) => {
        if (i === 0) ctx.moveTo(x(p.at), y(p[key]));
        else {
          ctx.lineTo(x(p.at), y(points[i - 1][key]));
          ctx.lineTo(x(p.at), y(p[key]));
        }
      });
      ctx.lineTo(width, y(points[points.length - 1][key]));
      ctx.stroke();
    };
    line('down', style.getPropertyValue('--down') || '#2a7de1');
    line('up', style.getPropertyValue('--up') || '#2aa15a');
    ctx.textAlign = 'left';
    ctx.fillStyle = style.color;
    ctx.fillText(t('speed.peak', { speed: fmt.speedOrZero(top) }), 4, 12);
    canvas.setAttribute('aria-label', t('speed.summary', {
      down: fmt.speedOrZero(task.dl_speed), up: fmt.speedOrZero(task.ul_speed), peak: fmt.speedOrZero(top),
    }));
  }
}

/**
 * Seconds a task spent in `state` ever: the server counts up to the start of its current state
 * (`state_since`), and the time since is added while it is still in that state.
 */
export function runningSeconds(task, field, state, now = Date.now() / 1000) {
  const before = task[field] ?? 0;
  if (task.state !== state || !task.state_since) return before;
  return before + Math.max(0, Math.floor(now - task.state_since));
}
