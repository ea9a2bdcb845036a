// Wiring: one connection, one store, the table, the detail pane, the status bar, and the ways
// to add (paste, file picker, the add dialog, drag and drop), act on a selection (in bulk, with
// progress and one summary), switch servers, the language, the theme and notifications.

import { Connection, defaultUrl, serverKey } from './connection.js';
import { forgetToken, saveToken, tokenFor, useToken } from './tokens.js';
import { Store } from './store.js';
import { Table, COLUMNS, FILTERS, filterCounts, labelCounts } from './table.js';
import { ChooseDialog } from './choose.js';
import { magnetInfoHash, torrentFiles } from './torrentfile.js';
import { Detail } from './detail.js';
import { StatusBar } from './statusbar.js';
import { Notifier } from './notify.js';
import { Preferences } from './preferences.js';
import { Player } from './player.js';
import * as bulk from './bulk.js';
import * as dialogs from './dialogs.js';
import * as fmt from './format.js';
import {
  LANGUAGES, chooseLanguage, initLanguage, language, plural, t, translatePage,
} from './i18n.js';

const $ = (id) => document.getElementById(id);

initLanguage();
translatePage();
const store = new Store();
const table = new Table(store, {
  grid: $('task-grid'), head: $('table-head'), body: $('table-body'), spacer: $('table-spacer'), empty: $('empty'),
});
const detail = new Detail(null, store, {
  pane: $('detail'),
  close: $('detail-close'),
  returnFocus: $('task-grid'),
  filesBody: $('files-body'),
  filesSpacer: $('files-spacer'),
  filesError: $('files-error'),
  filesWaiting: $('files-waiting'),
  piecesCanvas: $('pieces-canvas'),
  piecesText: $('pieces-text'),
  speedCanvas: $('speed-canvas'),
  trackersBody: $('trackers-body'),
  tabs: {
    overview: $('tab-overview'), files: $('tab-files'), peers: $('tab-peers'),
    pieces: $('tab-pieces'), speed: $('tab-speed'), trackers: $('tab-trackers'),
  },
});
const statusBar = new StatusBar(store, {
  totals: $('totals'), form: $('limits-form'), down: $('limit-down'), up: $('limit-up'),
  error: $('limits-error'),
});
const notifier = new Notifier();
const preferences = new Preferences($('prefs-dialog'), store);
const chooser = new ChooseDialog($('choose-dialog'));
const player = new Player($('player-dialog'), () => connection);

let connection = null;

/**
 * Connects to `url` (the page's own server unless the user chose another), with `token` or the
 * one that belongs to that server; `remember` saves the token once it has worked.
 */
function connectTo(url, token, remember = false) {
  connection?.close();
  connection = new Connection(url, token || tokenFor(url));
  connection.remember = remember;
  detail.setConnection(connection);
  statusBar.setConnection(connection);
  preferences.setConnection(connection);
  connection.addEventListener('state', (e) => showState(e.detail));
  connection.addEventListener('event', (e) => store.push(e.detail));
  connection.addEventListener('open', () => loadAll());
  connection.connect();
}

async function loadAll() {
  const [list, info, labels] = await Promise.all([
    connection.request('task.list', null),
    connection.request('session.info', null),
    // A server without labels (an older Magnetar) is no reason not to show its tasks.
    connection.request('session.getLabels', null).catch(() => ({ labels: [] })),
  ]);
  store.setLabels(labels.labels);
  store.snapshot(list);
  store.limits = { download_bps: info.download_bps ?? null, upload_bps: info.upload_bps ?? null };
  statusBar.showLimits(store.limits);
  detail.saveDir = info.download_dir;
  // "Open the folder" only where the server can show one: the desktop app, to this machine.
  document.querySelector('#context-menu [data-action=openFolder]').hidden = !info.can_open_folders;
  document.querySelector('#context-menu [data-action=openInPlayer]').hidden = !info.can_open_folders;
  detail.canOpenPlayers = Boolean(info.can_open_folders);
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

let lastState = { state: 'connecting', detail: '' };
async function showState(state) {
  lastState = state;
  renderState();
  if (state.state === 'unauthorized') {
    const answer = await dialogs.askToken(connection.url, state.detail);
    if (answer !== null) {
      useToken(connection.url, answer.token);
      connection.token = answer.token;
      connection.remember = answer.remember;
      connection.attempt = 0;
      connection.connect();
    }
  }
}

function renderState() {
  const el = $('connection');
  const { state } = lastState;
  el.dataset.state = state;
  const host = connection ? new URL(connection.url).host : '';
  const key = `connection.${state}`;
  const text = t(key, { host });
  if (el.textContent !== text) el.textContent = text === key ? state : text;
}

// Filters with live counts. The buttons are made once (a rebuild would take the focus away);
// their counts are updated in the same frame as the rows and the status bar, from the same state.
const filterButtons = new Map(FILTERS.map((filter) => {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.filter = filter.key;
  button.innerHTML = '<span class="label"></span><span class="count"></span>';
  button.addEventListener('click', () => {
    table.setFilter(filter.key);
    renderFilters();
  });
  return [filter.key, button];
}));
$('filters').replaceChildren(...filterButtons.values());

function renderFilters() {
  const perLabel = labelCounts(store.tasks.values());
  for (const [name, button] of labelButtons) {
    const active = name === table.label;
    button.className = active ? 'active' : '';
    button.setAttribute('aria-pressed', String(active));
    if (button.dataset.i18nKey) button.firstChild.textContent = t(button.dataset.i18nKey);
    const count = name === undefined ? store.tasks.size : (perLabel.get(name) ?? 0);
    const text = new Intl.NumberFormat(language()).format(count);
    if (button.lastChild.textContent !== text) button.lastChild.textContent = text;
  }
  const counts = filterCounts(store.tasks.values());
  for (const filter of FILTERS) {
    const button = filterButtons.get(filter.key);
    const active = filter.key === table.filter;
    button.className = active ? 'active' : '';
    button.setAttribute('aria-pressed', String(active));
    const label = t(filter.label);
    if (button.firstChild.textContent !== label) button.firstChild.textContent = label;
    const text = new Intl.NumberFormat(language()).format(counts.get(filter.key));
    if (button.lastChild.textContent !== text) button.lastChild.textContent = text;
  }
}

// The label filters: made again only when the labels change (a rebuild would take the focus
// away); their counts follow every change, like the state filters'.
const labelNav = $('label-filters');
let labelButtons = new Map();
function buildLabelFilters() {
  const entries = [[undefined, 'labels.all'], [null, 'labels.none'], ...store.labels.map((l) => [l.name, null])];
  if (table.label && !store.labels.some((l) => l.name === table.label)) table.setLabel(undefined);
  labelButtons = new Map(entries.map(([name, key]) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.label = name === undefined ? '*' : name === null ? '' : name;
    button.dataset.i18nKey = key ?? '';
    button.innerHTML = '<span class="label"></span><span class="count"></span>';
    button.firstChild.textContent = key ? t(key) : fmt.visible(name);
    button.addEventListener('click', () => {
      table.setLabel(name);
      renderFilters();
    });
    return [name, button];
  }));
  labelNav.replaceChildren(...labelButtons.values());
  labelNav.hidden = store.labels.length === 0;
  renderFilters();
}
store.addEventListener('labels', buildLabelFilters);

store.addEventListener('change', (e) => {
  if (e.detail) table.update(e.detail);
  else table.refresh();
  renderFilters();
});
store.addEventListener('event', (e) => {
  const { name, data } = e.detail;
  if (name === 'session.settingsUpdated') preferences.updated(data);
  if (name === 'session.watchFailed') {
    dialogs.toast(t('watch.failed', { path: fmt.visible(data.path), message: fmt.visible(data.message) }));
  }
});
store.addEventListener('transition', (e) => notifier.transition(e.detail, store.get(e.detail.id)));
table.addEventListener('select', () => {
  const selected = table.selection();
  if (selected.length === 1 && !$('detail').hidden) detail.open(selected[0]);
});
table.addEventListener('open', (e) => openDetail(e.detail));
table.addEventListener('action', (e) => {
  if (e.detail === 'toggle') {
    const ids = table.selection();
    const running = ids.some((id) => [0, 1, 2].includes(store.get(id)?.state));
    act(running ? 'pause' : 'resume', ids);
  } else {
    act(e.detail);
  }
});
table.addEventListener('menu', (e) => openMenu(e.detail.x, e.detail.y));
table.addEventListener('search', () => $('search').focus());
notifier.addEventListener('open', (e) => openDetail(e.detail));

function openDetail(id) {
  if (!id) return;
  detail.open(id);
  // The keyboard user lands on the pane's tabs, and Escape brings them back to the table.
  $('detail').querySelector('[role=tab][aria-selected=true]')?.focus();
}

// Adding.
const addError = $('add-error');
/** One task.add; `options`: paused, download_dir, label, files (only those given are sent). */
async function add(type, uri, what, options = {}) {
  const params = { type, uri };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && value !== false && value !== '') params[key] = value;
  }
  try {
    await connection.request('task.add', params);
    return true;
  } catch (e) {
    dialogs.showError(addError, `${what}: ${e.message}`);
    return false;
  }
}

/** Says how many tasks an add made (read out by screen readers: a live region). */
function announceAdded(count) {
  if (count) $('bulk-status').textContent = plural('added', count);
}

async function addLinks(links, options = {}) {
  let added = 0;
  for (const link of links) if (await add('magnet', link, link.slice(0, 60), options)) added += 1;
  announceAdded(added);
  return added === links.length;
}

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('add-input');
  const text = input.value.trim();
  if (!text) return;
  dialogs.showError(addError, '');
  if (await addLinks(text.split(/\s+/).filter(Boolean))) input.value = '';
});

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addFiles(files, options = {}) {
  dialogs.showError(addError, '');
  let added = 0;
  for (const file of files) {
    try {
      if (await add('torrent', await readAsDataUrl(file), file.name, options)) added += 1;
    } catch (e) {
      dialogs.showError(addError, `${file.name}: ${e.message}`);
    }
  }
  announceAdded(added);
}

// "Open…" is a real button (a label for a hidden input had no keyboard path).
$('open-button').addEventListener('click', () => $('file-input').click());
$('file-input').addEventListener('change', async (e) => {
  await addFiles([...e.target.files]);
  e.target.value = '';
});
// "Add with options…": several links or files, a folder (recent ones and the labels' folders
// offered), a label, start paused, and "choose files before starting".
const RECENT_FOLDERS = 'magnetar.folders';
function recentFolders() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_FOLDERS) ?? '[]');
  } catch {
    return [];
  }
}
function rememberFolder(folder) {
  if (!folder) return;
  localStorage.setItem(RECENT_FOLDERS, JSON.stringify([folder, ...recentFolders().filter((f) => f !== folder)].slice(0, 10)));
}

/** The folders the folder fields offer: recent ones, the labels' folders, the download folder. */
function offerFolders() {
  const folders = [...new Set([...recentFolders(), ...store.labels.map((l) => l.folder), detail.saveDir].filter(Boolean))];
  $('add-folders').replaceChildren(...folders.map((folder) => Object.assign(document.createElement('option'), { value: folder })));
}

$('add-options-button').addEventListener('click', async () => {
  offerFolders();
  const none = Object.assign(document.createElement('option'), { value: '', textContent: t('label.none') });
  $('add-label').replaceChildren(none, ...store.labels.map((l) => Object.assign(document.createElement('option'), { value: l.name, textContent: fmt.visible(l.name) })));
  const choice = await dialogs.askAdd($('add-input').value.trim());
  if (!choice) return;
  dialogs.showError(addError, '');
  const options = { paused: choice.paused, download_dir: choice.folder || undefined, label: choice.label || undefined };
  let ok = true;
  if (choice.choose) {
    for (const link of choice.links) ok = (await addMagnetChoosing(link, options)) && ok;
    for (const file of choice.files) ok = (await addTorrentChoosing(file, options)) && ok;
  } else {
    ok = await addLinks(choice.links, options);
    await addFiles(choice.files, options);
  }
  if (ok) {
    $('add-input').value = '';
    rememberFolder(choice.folder);
  }
});

/** A .torrent whose files are chosen before it is added: its tree comes from the file itself. */
async function addTorrentChoosing(file, options) {
  let parsed;
  try {
    parsed = torrentFiles(new Uint8Array(await file.arrayBuffer()));
  } catch (e) {
    dialogs.showError(addError, `${file.name}: ${e.message}`);
    return false;
  }
  const chosen = await chooser.open(parsed.name || file.name, parsed.files);
  if (!chosen) return false;
  const ok = await add('torrent', await readAsDataUrl(file), file.name, { ...options, files: chosen });
  if (ok) announceAdded(1);
  return ok;
}

/**
 * A magnet whose files are chosen before it downloads: added with no file chosen (it fetches
 * only the metadata), its tree shown when the metadata arrives, then the choice made with
 * task.setFiles. Cancelled, the task is removed (it wrote nothing).
 */
async function addMagnetChoosing(link, options) {
  const id = magnetInfoHash(link);
  if (!id) return add('magnet', link, link.slice(0, 60), options); // the server says what is wrong
  const metadataOf = async () => {
    const metadata = await connection.request('task.getMetadata', { task_id: id }).catch(() => null);
    return metadata?.ready ? metadata : null;
  };
  let arrived = null;
  const listener = (e) => {
    if (e.detail.name === 'task.metadataReceived' && e.detail.data.id === id) {
      arrived = e.detail.data;
      chooser.show(arrived.files, arrived.name);
    }
  };
  store.addEventListener('event', listener);
  try {
    if (!(await add('magnet', link, link.slice(0, 60), { ...options, files: [] }))) return false;
    let name = store.get(id)?.name ?? id;
    try {
      name = new URL(link).searchParams.get('dn') || name;
    } catch { /* a bare info hash */ }
    const result = chooser.open(name);
    const known = await metadataOf();
    if (known && !arrived) {
      arrived = known;
      chooser.show(known.files, known.name);
    }
    const chosen = await result;
    if (!chosen) {
      await connection.request('task.remove', { task_id: id, delete_files: true }).catch(() => {});
      return false;
    }
    await connection.request('task.setFiles', { task_id: id, files: chosen });
    announceAdded(1);
    return true;
  } catch (e) {
    dialogs.showError(addError, t('choose.failed', { name: link.slice(0, 60), message: e.message }));
    return false;
  } finally {
    store.removeEventListener('event', listener);
  }
}

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
let busy = false;
async function act(action, ids = table.selection()) {
  if (!ids.length) return;
  if (action === 'details') {
    openDetail(ids[0]);
    return;
  }
  if (action === 'move') {
    const folder = await askMove(ids);
    $('task-grid').focus();
    if (!folder) return;
    rememberFolder(folder);
    await inBulk('move', ids, (id) => ({ task_id: id, download_dir: folder }));
    return;
  }
  if (action === 'recheck') {
    await inBulk('recheck', ids, (id) => ({ task_id: id }));
    return;
  }
  if (action === 'play') {
    // A one-file task: its file. Otherwise the details' Files tab, where each file has ▶.
    const metadata = await connection.request('task.getMetadata', { task_id: ids[0] }).catch(() => null);
    if (metadata?.files?.length === 1) {
      await player.play(ids[0], 0, metadata.files[0].path).catch((e) => dialogs.toast(e.message));
    } else {
      openDetail(ids[0]);
      detail.show('files');
    }
    return;
  }
  if (action === 'openInPlayer') {
    // A one-file task: its file, in the desktop's player. Otherwise the Files tab, where each
    // file has ↗.
    const metadata = await connection.request('task.getMetadata', { task_id: ids[0] }).catch(() => null);
    if (metadata?.files?.length === 1) await openInPlayer(ids[0], 0);
    else {
      openDetail(ids[0]);
      detail.show('files');
    }
    return;
  }
  if (action === 'openFolder') {
    await connection.request('task.openFolder', { task_id: ids[0] }).catch((e) => dialogs.toast(e.message));
    return;
  }
  if (action === 'copyMagnet') {
    await copyMagnet(ids[0]);
    return;
  }
  if (action === 'label') {
    const choice = await dialogs.askLabel(ids.length, store.labels, store.get(ids[0])?.label ?? '');
    $('task-grid').focus();
    if (choice === null) return;
    await inBulk('setLabel', ids, (id) => (choice.move && choice.name
      ? { task_id: id, label: choice.name, move: true }
      : { task_id: id, label: choice.name || null }));
    return;
  }
  if (action === 'remove') {
    const name = fmt.visible(store.get(ids[0])?.name ?? ids[0]);
    const choice = await dialogs.confirmRemove(ids.length, name);
    $('task-grid').focus();
    if (!choice) return;
    await inBulk('remove', ids, (id) => ({ task_id: id, delete_files: choice.deleteFiles }));
    return;
  }
  const tasks = bulk.targets(action, ids.map((id) => store.get(id)).filter(Boolean));
  await inBulk(action, tasks.map((task) => task.id), (id) => ({ task_id: id }));
}

/** Asks for the folder to move tasks into (the first one's folder offered); null: cancelled. */
async function askMove(ids) {
  const dialog = $('move-dialog');
  const first = store.get(ids[0]);
  $('move-heading').textContent = ids.length === 1
    ? t('move.heading', { name: fmt.visible(first?.name ?? ids[0]) }) : t('move.heading', { name: plural('status.tasks', ids.length) });
  const metadata = await connection.request('task.getMetadata', { task_id: ids[0] }).catch(() => null);
  $('move-folder').value = metadata?.download_dir ?? '';
  offerFolders();
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' ? $('move-folder').value.trim() || null : null);
    dialog.returnValue = '';
    dialog.showModal();
    $('move-folder').focus();
  });
}

/**
 * Copies a task's magnet link (TaskMetadata.magnet). The clipboard API needs a secure page
 * (https, or this machine); elsewhere the link is shown selected, to copy by hand.
 */
async function copyMagnet(id) {
  const metadata = await connection.request('task.getMetadata', { task_id: id }).catch((e) => {
    dialogs.toast(e.message);
    return null;
  });
  if (!metadata?.magnet) return;
  try {
    await navigator.clipboard.writeText(metadata.magnet);
    dialogs.toast(t('copied'));
  } catch {
    window.prompt(t('action.copyMagnet'), metadata.magnet);
  }
}

$('detail').addEventListener('play', (e) => {
  player.play(e.detail.id, e.detail.index, e.detail.name).catch((error) => dialogs.toast(error.message));
});
/** "Open in player": the desktop's default media player, given a playlist with the stream. */
async function openInPlayer(id, index) {
  try {
    await connection.request('stream.openInPlayer', { task_id: id, file_index: index });
    dialogs.toast(t('player.opened'));
  } catch (error) {
    dialogs.toast(error.message);
  }
}
$('detail').addEventListener('openplayer', (e) => openInPlayer(e.detail.id, e.detail.index));
$('detail').addEventListener('copylink', async (e) => {
  try {
    if (await player.copy(await player.link(e.detail.id, e.detail.index))) dialogs.toast(t('player.copied'));
  } catch (error) {
    dialogs.toast(error.message);
  }
});

$('reannounce-button').addEventListener('click', async () => {
  const id = detail.id;
  if (!id) return;
  try {
    await connection.request('task.reannounce', { task_id: id });
    dialogs.toast(t('reannounce.done', { name: fmt.visible(store.get(id)?.name ?? id) }));
  } catch (e) {
    dialogs.toast(e.message);
  }
});

/** One action on many tasks: in order, a progress bar while it runs, then one summary. */
async function inBulk(action, ids, params) {
  if (busy || !ids.length) return;
  busy = true;
  const progress = $('bulk-progress');
  const status = $('bulk-status');
  const names = new Map(ids.map((id) => [id, fmt.visible(store.get(id)?.name ?? id)]));
  const show = (done) => {
    progress.max = ids.length;
    progress.value = done;
    status.textContent = t(`bulk.${action}`, {
      done: new Intl.NumberFormat(language()).format(done),
      total: new Intl.NumberFormat(language()).format(ids.length),
    });
  };
  // A handful of tasks is done before a bar could be read: show it only for real batches.
  if (ids.length > 20) progress.hidden = false;
  show(0);
  try {
    const failures = await bulk.runInOrder(
      ids,
      (id) => connection.request(`task.${action}`, params(id)),
      { onProgress: show },
    );
    const message = bulk.summary(action, ids.length, failures, (id) => names.get(id));
    status.textContent = message.split('\n')[0];
    if (failures.length || ids.length > 1) dialogs.toast(message);
  } finally {
    progress.hidden = true;
    busy = false;
    setTimeout(() => { if (!busy) status.textContent = ''; }, 5000);
  }
}

$('pause-selected').addEventListener('click', () => act('pause'));
$('resume-selected').addEventListener('click', () => act('resume'));
$('remove-selected').addEventListener('click', () => act('remove'));

function openMenu(x, y) {
  dialogs.openMenu(x, y, (action) => act(action));
}
dialogs.onContextMenu($('table-body'), (x, y, target) => {
  const id = table.rowId(target);
  if (!id) return;
  if (!table.selected.has(id)) table.select(id);
  $('task-grid').focus();
  openMenu(x, y);
});

// Columns menu: hide and show, remembered.
const columnsButton = $('columns-button');
function closeColumns(refocus) {
  $('columns-menu').hidden = true;
  columnsButton.setAttribute('aria-expanded', 'false');
  if (refocus) columnsButton.focus();
}
columnsButton.addEventListener('click', () => {
  const menu = $('columns-menu');
  if (!menu.hidden) {
    closeColumns(false);
    return;
  }
  menu.replaceChildren(...COLUMNS.filter((c) => c.key !== 'name').map((column) => {
    const label = document.createElement('label');
    label.innerHTML = '<input type="checkbox"> <span></span>';
    label.firstChild.checked = !table.hidden.has(column.key);
    label.lastChild.textContent = t(column.label);
    label.firstChild.addEventListener('change', () => table.toggleColumn(column.key));
    return label;
  }));
  const rect = columnsButton.getBoundingClientRect();
  menu.style.left = `${Math.max(4, Math.min(rect.right - 180, window.innerWidth - 190))}px`;
  menu.style.top = `${rect.bottom + 4}px`;
  menu.hidden = false;
  columnsButton.setAttribute('aria-expanded', 'true');
  menu.querySelector('input')?.focus();
});
$('columns-menu').addEventListener('focusout', (e) => {
  if (!$('columns-menu').contains(e.relatedTarget) && e.relatedTarget !== columnsButton) closeColumns(false);
});
document.addEventListener('pointerdown', (e) => {
  if (!$('columns-menu').hidden && !$('columns-menu').contains(e.target) && e.target !== columnsButton) closeColumns(false);
}, true);

// Search; Escape closes the menus. Other keys belong to the grid (table.js), only while it
// has the focus, so Space and Enter on a button or a link do what they do there.
$('search').addEventListener('input', (e) => table.setSearch(e.target.value));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('columns-menu').hidden) {
    e.preventDefault();
    closeColumns(true);
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

// Notifications: asked for on this click, never on load.
function renderNotify() {
  const button = $('notify-button');
  button.setAttribute('aria-pressed', String(notifier.enabled));
  button.dataset.i18n = notifier.enabled ? 'notify.on' : 'notify.off';
  button.textContent = t(button.dataset.i18n);
}
$('notify-button').addEventListener('click', async () => {
  const problem = await notifier.toggle();
  if (problem) dialogs.toast(problem);
  renderNotify();
});

$('prefs-button').addEventListener('click', () => preferences.open());
$('stats-button').addEventListener('click', async () => {
  let info;
  try {
    info = await connection.request('session.info', null);
  } catch (e) {
    dialogs.toast(e.message);
    return;
  }
  const ratio = info.downloaded_ever ? info.uploaded_ever / info.downloaded_ever : 0;
  const rows = [
    ['stats.uploaded', fmt.size(info.uploaded_ever ?? 0)],
    ['stats.downloaded', fmt.size(info.downloaded_ever ?? 0)],
    ['stats.ratio', fmt.number(ratio, 2)],
    ['stats.downloading', fmt.duration(info.seconds_downloading ?? 0)],
    ['stats.seeding', fmt.duration(info.seconds_seeding ?? 0)],
    ['stats.tasks', fmt.number(info.tasks ?? 0)],
    ['stats.session', `↑ ${fmt.size(info.ul_bytes ?? 0)}  ↓ ${fmt.size(info.dl_bytes ?? 0)}`],
    ['stats.uptime', fmt.duration(info.uptime_seconds ?? 0)],
  ];
  $('stats-body').replaceChildren(...rows.flatMap(([key, value]) => [
    Object.assign(document.createElement('dt'), { textContent: t(key) }),
    Object.assign(document.createElement('dd'), { textContent: value }),
  ]));
  const dialog = $('stats-dialog');
  dialog.returnValue = '';
  dialog.showModal();
});
$('shortcuts-button').addEventListener('click', () => {
  const dialog = $('shortcuts-dialog');
  dialog.returnValue = '';
  dialog.showModal();
});

// Language and theme, remembered in this browser; a change applies at once, no reload.
$('language').replaceChildren(...LANGUAGES.map(({ code, name }) => {
  const option = document.createElement('option');
  option.value = code;
  option.lang = code;
  option.textContent = name;
  return option;
}));
$('language').value = language();
$('language').addEventListener('change', (e) => {
  chooseLanguage(e.target.value);
  translatePage();
  renderNotify();
  renderState();
  buildLabelFilters();
  table.relabel();
  statusBar.renderTotals();
  detail.render();
});

/**
 * The theme: light, dark, or the system's ("auto", followed live). The page's colours come from
 * `html[data-theme]`, always "light" or "dark", so the CSS has one set of each.
 */
const systemDark = matchMedia('(prefers-color-scheme: dark)');
function applyTheme(theme) {
  const dark = theme === 'dark' || (theme !== 'light' && systemDark.matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}
systemDark.addEventListener('change', () => applyTheme(localStorage.getItem('magnetar.theme') ?? 'auto'));
applyTheme(localStorage.getItem('magnetar.theme') ?? 'auto');
$('theme').value = localStorage.getItem('magnetar.theme') ?? 'auto';
$('theme').addEventListener('change', (e) => {
  localStorage.setItem('magnetar.theme', e.target.value);
  applyTheme(e.target.value);
});

renderNotify();
renderFilters();
table.refresh();
connectTo(localStorage.getItem('magnetar.server') ?? defaultUrl());
