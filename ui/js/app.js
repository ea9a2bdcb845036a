// Wiring: one connection, one store, the table, the detail pane, the status bar, and the ways
// to add (paste, file picker, drag and drop), act on a selection, and switch servers.

import {
  Connection, defaultUrl, forgetToken, saveToken, serverKey, useToken,
} from './connection.js';
import { Store } from './store.js';
import { Table, COLUMNS, FILTERS } from './table.js';
import { Detail } from './detail.js';
import { StatusBar } from './statusbar.js';
import * as dialogs from './dialogs.js';

const $ = (id) => document.getElementById(id);

const store = new Store();
const table = new Table(store, {
  head: $('table-head'), body: $('table-body'), spacer: $('table-spacer'), empty: $('empty'),
});
const detail = new Detail(null, store, {
  pane: $('detail'),
  close: $('detail-close'),
  filesBody: $('files-body'),
  filesSpacer: $('files-spacer'),
  filesError: $('files-error'),
  piecesCanvas: $('pieces-canvas'),
  piecesText: $('pieces-text'),
  speedCanvas: $('speed-canvas'),
  tabs: {
    overview: $('tab-overview'), files: $('tab-files'), peers: $('tab-peers'),
    pieces: $('tab-pieces'), speed: $('tab-speed'),
  },
});
const statusBar = new StatusBar(store, {
  totals: $('totals'), form: $('limits-form'), down: $('limit-down'), up: $('limit-up'),
  error: $('limits-error'),
});

let connection = null;

/**
 * Connects to `url` (the page's own server unless the user chose another), with `token` or the
 * one that belongs to that server; `remember` saves the token once it has worked.
 */
function connectTo(url, token, remember = false) {
  connection?.close();
  connection = new Connection(url, token);
  connection.remember = remember;
  detail.setConnection(connection);
  statusBar.setConnection(connection);
  connection.addEventListener('state', (e) => showState(e.detail));
  connection.addEventListener('event', (e) => store.push(e.detail));
  connection.addEventListener('open', () => loadAll());
  connection.connect();
}

async function loadAll() {
  const [list, info] = await Promise.all([
    connection.request('task.list', null),
    connection.request('session.info', null),
  ]);
  store.snapshot(list);
  store.limits = { download_bps: info.download_bps ?? null, upload_bps: info.upload_bps ?? null };
  statusBar.showLimits(store.limits);
  detail.saveDir = info.download_dir;
  // Saved only when the user ticked "Remember this token", and only once it has worked.
  if (connection.remember && connection.token) saveToken(connection.url, connection.token);
  dialogs.rememberServer(connection.url);
  // For diagnostics and the browser tests: when the table first showed the snapshot.
  requestAnimationFrame(() => {
    window.magnetarRenderedAt ??= performance.now();
    window.magnetarReady = true;
  });
}

// Diagnostics (used by the browser tests to measure): the store and the table.
window.magnetar = { store, table };

async function showState({ state, detail: why }) {
  const el = $('connection');
  el.dataset.state = state;
  const host = new URL(connection.url).host;
  el.textContent = {
    connecting: `Connecting to ${host}…`,
    connected: `Connected to ${host}`,
    lost: 'Connection lost',
    reconnecting: `Reconnecting to ${host}…`,
    unauthorized: 'Token needed',
  }[state] ?? state;
  if (state === 'unauthorized') {
    const answer = await dialogs.askToken(connection.url, why);
    if (answer !== null) {
      useToken(connection.url, answer.token);
      connection.token = answer.token;
      connection.remember = answer.remember;
      connection.attempt = 0;
      connection.connect();
    }
  }
}

// Filters with live counts. The buttons are made once (a rebuild would take the focus away);
// their counts are updated in the same frame as the rows and the status bar, from the same state.
const filterButtons = new Map(FILTERS.map((filter) => {
  const button = document.createElement('button');
  button.dataset.filter = filter.key;
  button.innerHTML = '<span class="label"></span><span class="count"></span>';
  button.firstChild.textContent = filter.label;
  button.addEventListener('click', () => {
    table.setFilter(filter.key);
    renderFilters();
  });
  return [filter.key, button];
}));
$('filters').replaceChildren(...filterButtons.values());

function renderFilters() {
  const counts = new Map(FILTERS.map((filter) => [filter.key, 0]));
  for (const task of store.tasks.values()) {
    for (const filter of FILTERS) if (filter.test(task)) counts.set(filter.key, counts.get(filter.key) + 1);
  }
  for (const [key, button] of filterButtons) {
    button.className = key === table.filter ? 'active' : '';
    const text = String(counts.get(key));
    if (button.lastChild.textContent !== text) button.lastChild.textContent = text;
  }
}

store.addEventListener('change', (e) => {
  if (e.detail) table.update(e.detail);
  else table.refresh();
  renderFilters();
  $('empty').hidden = store.tasks.size > 0;
});
table.addEventListener('select', () => {
  const selected = table.selection();
  if (selected.length === 1 && !$('detail').hidden) detail.open(selected[0]);
});
table.addEventListener('open', (e) => detail.open(e.detail));

// Adding.
const addError = $('add-error');
async function add(type, uri, what) {
  try {
    await connection.request('task.add', { type, uri });
    return true;
  } catch (e) {
    dialogs.showError(addError, `${what}: ${e.message}`);
    return false;
  }
}

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('add-input');
  const text = input.value.trim();
  if (!text) return;
  dialogs.showError(addError, '');
  const links = text.split(/\s+/).filter(Boolean);
  let ok = true;
  for (const link of links) ok = (await add('magnet', link, link.slice(0, 60))) && ok;
  if (ok) input.value = '';
});

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addFiles(files) {
  dialogs.showError(addError, '');
  for (const file of files) {
    try {
      await add('torrent', await readAsDataUrl(file), file.name);
    } catch (e) {
      dialogs.showError(addError, `${file.name}: ${e.message}`);
    }
  }
}

$('file-input').addEventListener('change', async (e) => {
  await addFiles([...e.target.files]);
  e.target.value = '';
});

// Drag and drop anywhere: .torrent files, or a magnet link as text.
let dragDepth = 0;
window.addEventListener('dragenter', (e) => {
  e.preventDefault();
  dragDepth += 1;
  $('drop-zone').hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $('drop-zone').hidden = true;
});
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', async (e) => {
  e.preventDefault();
  dragDepth = 0;
  $('drop-zone').hidden = true;
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length) {
    await addFiles(files);
    return;
  }
  const text = e.dataTransfer?.getData('text/plain')?.trim();
  if (text) await add('magnet', text, text.slice(0, 60));
});

// Acting on the selection.
async function act(action, ids = table.selection()) {
  if (!ids.length) return;
  if (action === 'details') {
    detail.open(ids[0]);
    return;
  }
  if (action === 'remove') {
    const name = store.get(ids[0])?.name ?? ids[0];
    const choice = await dialogs.confirmRemove(ids.length, name);
    if (!choice) return;
    await each(ids, 'task.remove', (id) => ({ task_id: id, delete_files: choice.deleteFiles }));
    return;
  }
  await each(ids, `task.${action}`, (id) => ({ task_id: id }));
}

async function each(ids, method, params) {
  const failures = [];
  await Promise.all(ids.map((id) => connection.request(method, params(id)).catch((e) => {
    failures.push(`${store.get(id)?.name ?? id}: ${e.message}`);
  })));
  if (failures.length) dialogs.toast(failures.join('\n'));
}

$('pause-selected').addEventListener('click', () => act('pause'));
$('resume-selected').addEventListener('click', () => act('resume'));
$('remove-selected').addEventListener('click', () => act('remove'));
dialogs.onContextMenu($('table-body'), (x, y, target) => {
  const id = table.rowId(target);
  if (!id) return;
  if (!table.selected.has(id)) table.select(id);
  dialogs.openMenu(x, y, (action) => act(action));
});

// Columns menu: hide and show, remembered.
$('columns-button').addEventListener('click', (e) => {
  const menu = $('columns-menu');
  menu.replaceChildren(...COLUMNS.filter((c) => c.key !== 'name').map((column) => {
    const label = document.createElement('label');
    label.innerHTML = '<input type="checkbox"> <span></span>';
    label.firstChild.checked = !table.hidden.has(column.key);
    label.lastChild.textContent = column.label;
    label.firstChild.addEventListener('change', () => table.toggleColumn(column.key));
    return label;
  }));
  const rect = e.target.getBoundingClientRect();
  menu.style.left = `${Math.max(4, rect.right - 180)}px`;
  menu.style.top = `${rect.bottom + 4}px`;
  menu.hidden = !menu.hidden;
});

// Search, keyboard.
$('search').addEventListener('input', (e) => table.setSearch(e.target.value));
document.addEventListener('keydown', (e) => {
  const typing = ['INPUT', 'TEXTAREA'].includes(document.activeElement?.tagName);
  if (e.key === 'Escape') {
    $('context-menu').hidden = true;
    $('columns-menu').hidden = true;
  }
  if (typing || document.querySelector('dialog[open]')) return;
  if (e.key === '/') {
    e.preventDefault();
    $('search').focus();
  } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'a') {
    e.preventDefault();
    table.selectAll();
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    table.move(e.key === 'ArrowDown' ? 1 : -1, e.shiftKey);
  } else if (e.key === ' ') {
    e.preventDefault();
    const ids = table.selection();
    const running = ids.some((id) => [0, 1, 2].includes(store.get(id)?.state));
    act(running ? 'pause' : 'resume', ids);
  } else if (e.key === 'Delete') {
    act('remove');
  } else if (e.key === 'Enter') {
    const [first] = table.selection();
    if (first) detail.open(first);
  }
});

// Another server.
$('connect-button').addEventListener('click', async () => {
  const choice = await dialogs.askServer(connection.url, forgetServer);
  if (!choice) return;
  store.snapshot([]);
  detail.open(null);
  if (choice.local) {
    localStorage.removeItem('magnetar.server');
    connectTo(defaultUrl());
    return;
  }
  localStorage.setItem('magnetar.server', choice.url);
  useToken(choice.url, choice.token);
  connectTo(choice.url, choice.token, choice.remember);
});

/** "Forget this server": its saved token, its place in the recent servers and as the last one. */
function forgetServer(url) {
  forgetToken(url);
  dialogs.forgetServer(url);
  const last = localStorage.getItem('magnetar.server');
  if (last && serverKey(last) === serverKey(url)) localStorage.removeItem('magnetar.server');
  if (connection && serverKey(connection.url) === serverKey(url)) connection.remember = false;
}

renderFilters();
table.refresh();
connectTo(localStorage.getItem('magnetar.server') ?? defaultUrl());
