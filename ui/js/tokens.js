// The tokens of the servers this page drives: each server is sent its own only, and one is
// saved in this browser only when the user asks ("Remember this token"). Browser state
// (the address bar, localStorage); connection.js stays free of it.

import { defaultUrl, serverKey } from './connection.js';

// The token the page came with belongs to the page's own server only: the desktop shell's
// (MAGNETAR_API_TOKEN, for MAGNETAR_API_URL), or `?token=` in the address of a page this server
// served. Read once at load; `?token=` is then taken out of the address bar and the history.
const pageToken = (() => {
  const injected = window.MAGNETAR_API_TOKEN ?? '';
  const params = new URLSearchParams(location.search);
  const fromQuery = params.get('token') ?? '';
  if (params.has('token')) {
    params.delete('token');
    const query = params.toString() ? `?${params}` : '';
    history.replaceState(history.state, '', `${location.pathname}${query}${location.hash}`);
  }
  return { server: serverKey(defaultUrl()), token: injected || fromQuery };
})();

// Tokens typed in this page's life, per server, kept in memory only (gone on reload).
const typedTokens = new Map();

// Tokens the user asked to remember ("Remember this token"), per server, in localStorage.
const TOKEN_PREFIX = 'magnetar.token.';
const tokenKey = (url) => `${TOKEN_PREFIX}${serverKey(url)}`;

// Earlier versions saved every working token unasked, under the full URL: drop those.
for (const key of Object.keys(localStorage)) {
  if (!key.startsWith(TOKEN_PREFIX)) continue;
  const server = key.slice(TOKEN_PREFIX.length);
  if (serverKey(server) !== server) localStorage.removeItem(key);
}

export function savedToken(url) {
  return localStorage.getItem(tokenKey(url)) ?? '';
}

/** Remembers `token` for the server of `url` (the user asked to), or forgets it when empty. */
export function saveToken(url, token) {
  if (token) localStorage.setItem(tokenKey(url), token);
  else localStorage.removeItem(tokenKey(url));
}

/** Keeps a token the user typed for this page's life, without saving it. */
export function useToken(url, token) {
  if (token) typedTokens.set(serverKey(url), token);
}

/**
 * Forgets the tokens the user gave for the server of `url`: the saved one and any typed in this
 * page's life. (The desktop's or `?token=` token came with the page and is never saved.)
 */
export function forgetToken(url) {
  saveToken(url, '');
  typedTokens.delete(serverKey(url));
}

/** The token to send to the server of `url`: only ever one that belongs to that server. */
export function tokenFor(url) {
  const server = serverKey(url);
  return typedTokens.get(server)
    || (pageToken.server === server ? pageToken.token : '')
    || savedToken(url);
}

