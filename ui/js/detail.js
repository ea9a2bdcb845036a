// The detail pane of the selected task: Overview, Files (a virtualized list with a checkbox per
// file, sent as task.setFiles), Peers, Pieces (a canvas) and Speed (the last 5 minutes). While
// the pane is open it asks for the one task's status once a second: a detail view, not polling
// of the list, which comes from events only.

import * as fmt from './format.js';
import { buildTree, visibleRows } from './filetree.js';

const FILE_ROW = 30;
const HISTORY_SECONDS = 300;

export class Detail {
  constructor(connection, store, elements) {
    this.connection = connection;
    this.store = store;
    this.el = elements;
    this.id = null;
    this.tab = 'overview';
    this.metadata = null;
    this.status = null;
    this.history = [];
    this.pool = [];
    this.timer = null;
    for (const button of this.el.pane.querySelectorAll('[data-tab]')) {
      button.addEventListener('click', () => this.show(button.dataset.tab));
    }
    this.el.close.addEventListener('click', () => this.open(null));
    this.el.filesBody.addEventListener('scroll', () => this.paintFiles(), { passive: true });
    this.el.filesBody.addEventListener('change', (e) => this.fileToggled(e));
    this.el.filesBody.addEventListener('click', (e) => this.folderClicked(e));
    store.addEventListener('event', (e) => {
      const { name, data } = e.detail;
      if (name === 'task.metadataReceived' && data.id === this.id) this.loadMetadata();
      if (name === 'task.removed' && data.task_id === this.id) this.open(null);
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
    this.history = [];
    clearInterval(this.timer);
    this.el.pane.hidden = !id;
    if (!id) return;
    this.loadMetadata();
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  show(tab) {
    this.tab = tab;
    for (const button of this.el.pane.querySelectorAll('[data-tab]')) {
      button.classList.toggle('active', button.dataset.tab === tab);
    }
    for (const name of ['overview', 'files', 'peers', 'pieces', 'speed']) {
      this.el.tabs[name].hidden = name !== tab;
    }
    this.render();
  }

  async loadMetadata() {
    const id = this.id;
    try {
      const metadata = await this.connection.request('task.getMetadata', { task_id: id });
      if (id !== this.id) return;
      this.metadata = metadata;
      this.render();
    } catch {
      /* the task may be gone; the next event closes the pane */
    }
  }

  async tick() {
    const id = this.id;
    const task = this.store.get(id);
    if (task) {
      this.history.push({ at: Date.now(), down: task.dl_speed, up: task.ul_speed });
      while (this.history.length > HISTORY_SECONDS) this.history.shift();
    }
    if (document.hidden) return;
    try {
      const status = await this.connection.request('task.getStatus', { task_id: id });
      if (id !== this.id) return;
      this.status = status;
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
    if (this.tab === 'speed') this.renderSpeed();
  }

  renderOverview(task) {
    const m = this.metadata ?? {};
    const rows = [
      ['Name', task.name],
      ['State', fmt.stateName(task.state) + (task.error ? `: ${task.error}` : '')],
      ['Info hash', task.id],
      ['Saved in', this.saveDir ?? '—'],
      ['Size', fmt.size(task.total_bytes)],
      ['Downloaded', `${fmt.size(task.dl_bytes)} (${fmt.percent(task.dl_bytes, task.total_bytes).toFixed(1)}%)`],
      ['Uploaded', fmt.size(task.ul_bytes)],
      ['Ratio', fmt.ratio(task)],
      ['Peers / seeds', `${task.connected_peers} / ${task.connected_seeds}`],
      ['Added', fmt.date(task.added)],
      ['Files', m.files ? String(m.files.length) : '—'],
      ['Created by', m.creator || '—'],
      ['Comment', m.comment || '—'],
    ];
    const table = document.createElement('dl');
    table.className = 'facts';
    for (const [label, value] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      table.append(dt, dd);
    }
    this.el.tabs.overview.replaceChildren(table);
  }

  /** The file tree, virtualized like the task table. */
  paintFiles() {
    const files = this.metadata?.files ?? [];
    if (this.treeFor !== this.metadata) {
      this.tree = buildTree(files);
      this.treeFor = this.metadata;
      this.collapsed = new Set();
    }
    const rows = visibleRows(this.tree, this.collapsed);
    const selected = (i) => this.status?.selected?.[i] ?? files[i]?.selected ?? true;
    const held = (i) => this.status?.files?.[i] ?? 0;
    const body = this.el.filesBody;
    this.el.filesSpacer.style.height = `${rows.length * FILE_ROW}px`;
    const first = Math.max(0, Math.floor(body.scrollTop / FILE_ROW) - 5);
    const last = Math.min(rows.length, first + Math.ceil(body.clientHeight / FILE_ROW) + 10);
    while (this.pool.length < last - first) {
      const row = document.createElement('div');
      row.className = 'file';
      row.innerHTML = '<input type="checkbox"><span class="file-name"></span><span class="file-size"></span><span class="bar"><span class="fill"></span></span>';
      body.appendChild(row);
      this.pool.push(row);
    }
    this.pool.forEach((row, slot) => {
      const at = first + slot;
      row.hidden = at >= last;
      if (row.hidden) return;
      const { dir, file, depth } = rows[at];
      const [box, name, sizeEl, bar] = row.children;
      const members = dir ? dir.all : [file.index];
      const size = members.reduce((sum, i) => sum + files[i].size, 0);
      const have = members.reduce((sum, i) => sum + held(i), 0);
      const chosen = members.filter(selected).length;
      row.style.transform = `translateY(${at * FILE_ROW}px)`;
      row.classList.toggle('dir', Boolean(dir));
      if (dir) {
        delete row.dataset.index;
        row.dataset.dir = dir.path;
        name.textContent = `${this.collapsed.has(dir.path) ? '▸' : '▾'} ${dir.name}`;
        name.title = dir.path;
      } else {
        delete row.dataset.dir;
        row.dataset.index = file.index;
        name.textContent = file.name;
        name.title = files[file.index].path;
      }
      name.style.paddingLeft = `${depth * 1.1}rem`;
      box.checked = chosen === members.length;
      box.indeterminate = chosen > 0 && chosen < members.length;
      sizeEl.textContent = `${fmt.size(have)} / ${fmt.size(size)}`;
      bar.firstChild.style.width = `${fmt.percent(have, size)}%`;
      row.classList.toggle('skipped', chosen === 0);
    });
  }

  /** A click on a folder's name opens or closes it. */
  folderClicked(event) {
    const row = event.target.closest('.file.dir');
    if (!row || event.target.tagName === 'INPUT') return;
    const path = row.dataset.dir;
    if (this.collapsed.has(path)) this.collapsed.delete(path);
    else this.collapsed.add(path);
    this.paintFiles();
  }

  async fileToggled(event) {
    const files = this.metadata?.files ?? [];
    const row = event.target.closest('.file');
    if (!row) return;
    const current = files.map((f, i) => this.status?.selected?.[i] ?? f.selected ?? true);
    const members = row.dataset.dir
      ? findDir(this.tree, row.dataset.dir)?.all ?? []
      : [Number(row.dataset.index)];
    for (const i of members) current[i] = event.target.checked;
    const chosen = current.flatMap((on, i) => (on ? [i] : []));
    this.el.filesError.hidden = true;
    try {
      await this.connection.request('task.setFiles', { task_id: this.id, files: chosen });
      if (this.status) this.status.selected = current;
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
    table.innerHTML = '<thead><tr><th>Client</th><th>Address</th><th>↓</th><th>↑</th><th>Downloaded</th><th>Uploaded</th></tr></thead>';
    const body = document.createElement('tbody');
    for (const peer of peers) {
      const tr = document.createElement('tr');
      for (const value of [peer.client, peer.address, fmt.speed(peer.dl_speed), fmt.speed(peer.ul_speed), fmt.size(peer.dl_bytes), fmt.size(peer.ul_bytes)]) {
        const td = document.createElement('td');
        td.textContent = value;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    const note = document.createElement('p');
    note.textContent = peers.length ? '' : 'No peer connected.';
    this.el.tabs.peers.replaceChildren(table, note);
  }

  renderPieces() {
    const pieces = this.status?.pieces ?? [];
    const canvas = this.el.piecesCanvas;
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const ctx = canvas.getContext('2d');
    const style = getComputedStyle(canvas);
    ctx.fillStyle = style.getPropertyValue('--piece-missing') || '#ddd';
    ctx.fillRect(0, 0, width, canvas.height);
    ctx.fillStyle = style.getPropertyValue('--piece-held') || '#3a7';
    const held = pieces.filter(Boolean).length;
    if (pieces.length) {
      // One column per pixel: the share of its pieces held sets its height.
      const per = pieces.length / width;
      for (let x = 0; x < width; x += 1) {
        const from = Math.floor(x * per);
        const to = Math.max(from + 1, Math.floor((x + 1) * per));
        let count = 0;
        for (let i = from; i < to && i < pieces.length; i += 1) if (pieces[i]) count += 1;
        const share = count / (to - from);
        if (share > 0) ctx.fillRect(x, canvas.height * (1 - share), 1, canvas.height * share);
      }
    }
    this.el.piecesText.textContent = `${held} of ${pieces.length} pieces`;
  }

  renderSpeed() {
    const canvas = this.el.speedCanvas;
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const height = canvas.height;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const peak = Math.max(1, ...this.history.map((h) => Math.max(h.down, h.up)));
    const style = getComputedStyle(canvas);
    const line = (key, color) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      this.history.forEach((h, i) => {
        const x = width - (this.history.length - 1 - i) * (width / HISTORY_SECONDS);
        const y = height - (h[key] / peak) * (height - 12) - 2;
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    };
    line('down', style.getPropertyValue('--down') || '#2a7de1');
    line('up', style.getPropertyValue('--up') || '#2aa15a');
    ctx.fillStyle = style.color;
    ctx.fillText(`peak ${fmt.speed(peak) || '0 B/s'}`, 4, 12);
  }
}

/** The folder node at `path`. */
function findDir(node, path) {
  for (const dir of node.dirs.values()) {
    if (dir.path === path) return dir;
    if (path.startsWith(`${dir.path}/`)) return findDir(dir, path);
  }
  return null;
}
