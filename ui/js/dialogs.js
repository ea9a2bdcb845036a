// Dialogs and messages: the token prompt, "Connect to…", remove confirmation, the context menu,
// and the one-line error shown next to what the user did.

import { serverKey } from './connection.js';

export function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

let toastTimer = null;
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
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
    status.textContent = `Forgot ${server}: no saved token, not a recent server.`;
  };
  return new Promise((resolve) => {
    dialog.onclose = () => {
      if (dialog.returnValue === 'local') resolve({ local: true });
      else if (dialog.returnValue === 'ok' && url.value.trim()) {
        resolve({ url: url.value.trim(), token: token.value.trim(), remember: remember.checked });
      } else resolve(null);
    };
    dialog.showModal();
  });
}

/** Confirms a removal; resolves with {deleteFiles} or null. */
export function confirmRemove(count, name) {
  const dialog = document.getElementById('remove-dialog');
  document.getElementById('remove-title').textContent = count === 1
    ? `Remove “${name}”?` : `Remove ${count} tasks?`;
  const data = document.getElementById('remove-data');
  data.checked = false;
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' ? { deleteFiles: data.checked } : null);
    dialog.showModal();
    document.getElementById('remove-confirm').focus();
  });
}

/** The context menu at (x, y); `act` receives the chosen action. */
export function openMenu(x, y, act) {
  const menu = document.getElementById('context-menu');
  menu.hidden = false;
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  menu.style.left = `${Math.min(x, window.innerWidth - width - 4)}px`;
  menu.style.top = `${Math.min(y, window.innerHeight - height - 4)}px`;
  menu.onclick = (e) => {
    const action = e.target.dataset?.action;
    if (!action) return;
    menu.hidden = true;
    act(action);
  };
  const close = (e) => {
    if (menu.contains(e.target)) return;
    menu.hidden = true;
    document.removeEventListener('pointerdown', close, true);
  };
  setTimeout(() => document.addEventListener('pointerdown', close, true), 0);
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
