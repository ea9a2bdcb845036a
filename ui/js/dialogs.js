// Dialogs and messages: the token prompt, "Connect to…", the add dialog, remove confirmation,
// the context menu (a WAI-ARIA menu: arrow keys, Enter, Escape, the focus given back), and the
// one-line error shown next to what the user did. Every text goes in as text, never as HTML.

import { serverKey } from './connection.js';
import { plural, t } from './i18n.js';

export function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

let toastTimer = null;
/** A short message over the page, also read out (the toast is a live region). Longer messages
 *  stay longer; a click dismisses it. */
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.hidden = false;
  el.onclick = () => { el.hidden = true; };
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, Math.min(15000, 4000 + message.length * 40));
}

/**
 * Asks for a token for `url`; resolves with {token, remember} ("Remember this token", unticked
 * unless the user ticks it), or null if cancelled.
 */
export function askToken(url, why) {
  const dialog = document.getElementById('token-dialog');
  document.getElementById('token-server').textContent = url;
  document.getElementById('token-error').textContent = why || '';
  const input = document.getElementById('token-input');
  const remember = document.getElementById('token-remember');
  input.value = '';
  remember.checked = false;
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === 'ok'
      ? { token: input.value.trim(), remember: remember.checked } : null);
    dialog.returnValue = ''; // Escape keeps the last value: a cancel must not read as the last "ok"
    dialog.showModal();
    input.focus();
  });
}

const RECENT_KEY = 'magnetar.recent';

export function recentServers() {
  return JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
}

export function rememberServer(url) {
  const recent = [url, ...recentServers().filter((u) => u !== url)].slice(0, 8);
  localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
}

/** Takes every URL of the server of `url` out of the recent servers. */
export function forgetServer(url) {
  const recent = recentServers().filter((u) => serverKey(u) !== serverKey(url));
  localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
}

/**
 * Asks which server to drive; resolves with {url, token, remember}, {local: true}, or null.
 * "Forget this server" calls `forget(url)` with the URL in the field and leaves the dialog open.
 */
export function askServer(current, forget) {
  const dialog = document.getElementById('connect-dialog');
  const url = document.getElementById('connect-url');
  const token = document.getElementById('connect-token');
  const remember = document.getElementById('connect-remember');
  const status = document.getElementById('connect-status');
  url.value = current;
  token.value = '';
  remember.checked = false;
  status.textContent = '';
  const recent = document.getElementById('recent-servers');
  const listRecent = () => recent.replaceChildren(...recentServers().map((server) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = server;
    button.addEventListener('click', () => { url.value = server; });
    return button;
  }));
  listRecent();
  document.getElementById('connect-forget').onclick = () => {
    const server = url.value.trim();
    if (!server) return;
    forget(server);
    listRecent();
    status.textContent = t('connect.forgot', { server });
  };
  return new Promise((resolve) => {
    dialog.onclose = () => {
      if (dialog.returnValue === 'local') resolve({ local: true });
      else if (dialog.returnValue === 'ok' && url.value.trim()) {
        resolve({ url: url.value.trim(), token: token.value.trim(), remember: remember.checked });
      } else resolve(null);
    };
    dialog.returnValue = ''; // Escape keeps the last value: a cancel must not read as the last "ok"
    dialog.showModal();
  });
}

/**
 * Asks which label `count` tasks get (`current`: the first one's); resolves with {name ('' for
 * none), move (the data into the label's folder too)}, or null when cancelled.
 */
export function askLabel(count, labels, current) {
  const dialog = document.getElementById('label-dialog');
  const select = document.getElementById('label-select');
  document.getElementById('label-heading').textContent = plural('label.heading', count);
  const none = Object.assign(document.createElement('option'), { value: '', textContent: t('label.none') });
  select.replaceChildren(none, ...labels.map((l) => Object.assign(document.createElement('option'), { value: l.name, textContent: l.name })));
  select.value = labels.some((l) => l.name === current) ? current : '';
  const move = document.getElementById('label-move');
  move.checked = false;
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' ? { name: select.value, move: move.checked } : null);
    dialog.returnValue = '';
    dialog.showModal();
    select.focus();
  });
}

/** Confirms a removal; resolves with {deleteFiles} or null. */
export function confirmRemove(count, name) {
  const dialog = document.getElementById('remove-dialog');
  document.getElementById('remove-title').textContent = count === 1
    ? t('remove.one', { name }) : plural('remove.many', count);
  const data = document.getElementById('remove-data');
  data.checked = false;
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' ? { deleteFiles: data.checked } : null);
    dialog.returnValue = ''; // Escape keeps the last value: a cancel must not read as the last "ok"
    dialog.showModal();
    document.getElementById('remove-confirm').focus();
  });
}

/**
 * The context menu at (x, y); `act` receives the chosen action. The first item takes the focus;
 * Up/Down/Home/End move, Enter or Space choose, Escape or Tab close; the focus then goes back to
 * where it was (the table).
 */
export function openMenu(x, y, act) {
  const menu = document.getElementById('context-menu');
  const back = document.activeElement;
  const items = [...menu.querySelectorAll('[role=menuitem]:not([hidden])')];
  menu.hidden = false;
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  menu.style.left = `${Math.max(4, Math.min(x, window.innerWidth - width - 4))}px`;
  menu.style.top = `${Math.max(4, Math.min(y, window.innerHeight - height - 4))}px`;
  const close = (refocus = true) => {
    menu.hidden = true;
    document.removeEventListener('pointerdown', outside, true);
    if (refocus) back?.focus?.();
  };
  const outside = (e) => {
    if (!menu.contains(e.target)) close(false);
  };
  menu.onclick = (e) => {
    const action = e.target.closest('[data-action]')?.dataset.action;
    if (!action) return;
    close();
    act(action);
  };
  menu.onkeydown = (e) => {
    const at = items.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[e.key];
    if (to !== undefined) {
      items[(to + items.length) % items.length].focus();
    } else if (e.key === 'Escape') {
      close();
    } else if (e.key === 'Tab') {
      close();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  };
  for (const item of items) item.tabIndex = -1;
  items[0]?.focus();
  setTimeout(() => document.addEventListener('pointerdown', outside, true), 0);
}

/**
 * The add dialog: links (one per line) or .torrent files, and whether to start paused. Resolves
 * with {links, files, paused}, or null if cancelled.
 */
export function askAdd(initialText = '') {
  const dialog = document.getElementById('add-dialog');
  const links = document.getElementById('add-links');
  const files = document.getElementById('add-files');
  const paused = document.getElementById('add-paused');
  const folder = document.getElementById('add-folder');
  const label = document.getElementById('add-label');
  const choose = document.getElementById('add-choose');
  const error = document.getElementById('add-dialog-error');
  links.value = initialText;
  files.value = '';
  paused.checked = false;
  choose.checked = false;
  folder.value = '';
  showError(error, '');
  return new Promise((resolve) => {
    const form = document.getElementById('add-dialog-form');
    form.onsubmit = (e) => {
      if (e.submitter?.value !== 'ok') return;
      const chosen = links.value.split(/\s+/).filter(Boolean);
      if (!chosen.length && !files.files.length) {
        e.preventDefault();
        showError(error, t('addDialog.nothing'));
        links.focus();
      }
    };
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' ? {
      links: links.value.split(/\s+/).filter(Boolean),
      files: [...files.files],
      paused: paused.checked,
      folder: folder.value.trim(),
      label: label.value,
      choose: choose.checked,
    } : null);
    dialog.returnValue = ''; // Escape keeps the last value: a cancel must not read as the last "ok"
    dialog.showModal();
    links.focus();
  });
}

/** Calls `handler(x, y)` on a right click, or a touch held for half a second. */
export function onContextMenu(element, handler) {
  element.addEventListener('contextmenu', (e) => {
    e.preventDefault();
    handler(e.clientX, e.clientY, e.target);
  });
  let timer = null;
  element.addEventListener('touchstart', (e) => {
    const touch = e.touches[0];
    timer = setTimeout(() => handler(touch.clientX, touch.clientY, e.target), 500);
  }, { passive: true });
  for (const name of ['touchend', 'touchmove', 'touchcancel']) {
    element.addEventListener(name, () => clearTimeout(timer), { passive: true });
  }
}
