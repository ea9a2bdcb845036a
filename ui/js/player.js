// Watching while it downloads: a file of a task played in the page (an HTML5 <video>, which
// plays audio too) from the server's /stream endpoint, through a signed link (stream.url: a
// player cannot send the token, and the link never carries it). The piece bar under it shows
// what is downloaded; a seek makes the server fetch the pieces at the new position first.

import { t } from './i18n.js';
import * as fmt from './format.js';

/** What a browser plays: MP4/H.264, WebM, Ogg, MP3, AAC, FLAC, WAV. */
export const PLAYABLE = /\.(mp4|m4v|webm|ogv|ogg|oga|opus|mp3|m4a|aac|flac|wav)$/i;

/**
 * The stream link for `path` (stream.url's, `/stream/…?st=…`) on the server this page talks
 * to: beside its WebSocket URL, so that a server behind a proxy at a sub-path works too.
 */
export function streamLink(socketUrl, path) {
  const base = new URL(socketUrl);
  base.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  return new URL(path.replace(/^\//, ''), new URL('.', base)).toString();
}

/** Draws which pieces are held: one column per pixel, its height the share held. */
export function drawPieces(canvas, pieces) {
  const width = canvas.clientWidth || 600;
  canvas.width = width;
  const ctx = canvas.getContext('2d');
  const style = getComputedStyle(canvas);
  ctx.fillStyle = style.getPropertyValue('--piece-missing') || '#ddd';
  ctx.fillRect(0, 0, width, canvas.height);
  ctx.fillStyle = style.getPropertyValue('--piece-held') || '#3a7';
  if (!pieces.length) return;
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

export class Player {
  constructor(dialog, connectionOf) {
    this.dialog = dialog;
    this.connectionOf = connectionOf;
    this.video = dialog.querySelector('video');
    this.pieces = dialog.querySelector('canvas');
    this.note = dialog.querySelector('#player-note');
    this.timer = null;
    dialog.addEventListener('close', () => this.stop());
    dialog.querySelector('#player-copy').addEventListener('click', () => this.copy());
  }

  /** A signed link to file `index` of task `id`. */
  async link(id, index) {
    const connection = this.connectionOf();
    const answer = await connection.request('stream.url', { task_id: id, file_index: index });
    return streamLink(connection.url, answer.path);
  }

  /** Plays file `index` of task `id` (called from a click: the browser lets it play sound). */
  async play(id, index, name) {
    this.url = await this.link(id, index);
    this.id = id;
    this.dialog.querySelector('#player-heading').textContent = t('player.heading', { name: fmt.visible(name) });
    this.note.textContent = PLAYABLE.test(name) ? '' : t('player.cannot');
    this.video.src = this.url;
    this.dialog.returnValue = '';
    this.dialog.showModal();
    this.video.play().catch(() => { /* the controls are there */ });
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  async tick() {
    try {
      const status = await this.connectionOf().request('task.getStatus', { task_id: this.id });
      const pieces = status.pieces ?? [];
      drawPieces(this.pieces, pieces);
      const text = t('player.pieces', { held: fmt.number(pieces.filter(Boolean).length), total: fmt.number(pieces.length) });
      this.pieces.setAttribute('aria-label', text);
    } catch { /* the task may be gone */ }
  }

  /** Copies the stream link, for a media player (VLC, mpv, a TV). */
  async copy(url = this.url) {
    try {
      await navigator.clipboard.writeText(url);
      this.note.textContent = t('player.copied');
      return true;
    } catch {
      window.prompt(t('player.copy'), url);
      return false;
    }
  }

  /** Closed: the stream is let go (the server frees it when the connection ends). */
  stop() {
    clearInterval(this.timer);
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }
}
