// Human formatting: sizes, speeds, durations, dates, states, in the UI's language (numbers and
// dates by `Intl`: "1.5 MiB" in English, "1,5 MiB" in German). Pure functions, no DOM.

import { language, t } from './i18n.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// Intl formatters are costly to make and a render formats thousands of numbers: one per
// language and shape, kept.
const formatters = new Map();
function numberFormat(options) {
  const key = `${language()}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) formatters.set(key, new Intl.NumberFormat(language(), options));
  return formatters.get(key);
}

/** A number in the UI's language, with `digits` decimals. */
export function number(value, digits = 0) {
  return numberFormat({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

/** Bytes in binary units: 3 significant digits from KiB on ("1.46 MiB", "146 KiB", "999 B"). */
export function size(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return t('none');
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  let digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  // 1023.996 KiB rounds to "1024 KiB": say "1.00 MiB" instead.
  if (unit > 0 && unit < UNITS.length - 1 && Number(value.toFixed(digits)) >= 1024) {
    value /= 1024;
    unit += 1;
    digits = 2;
  }
  return `${number(value, digits)} ${t(`unit.${UNITS[unit]}`)}`;
}

/** A speed; empty for 0 so that idle rows stay quiet. */
export function speed(bps) {
  return bps > 0 ? t('unit.perSecond', { size: size(bps) }) : '';
}

/** A speed, "0 B/s" for 0 (totals always say something). */
export function speedOrZero(bps) {
  return t('unit.perSecond', { size: size(Math.max(0, bps || 0)) });
}

export function percent(done, total) {
  if (!total) return 0;
  return Math.min(100, (done / total) * 100);
}

/** A percentage with one decimal: "45.0 %" or "45,0 %" as the language writes it. */
export function percentText(done, total) {
  return numberFormat({ style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 })
    .format(percent(done, total) / 100);
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return t('duration.infinite');
  const s = Math.round(seconds);
  if (s < 60) return t('duration.s', { s });
  if (s < 3600) return t('duration.ms', { m: Math.floor(s / 60), s: s % 60 });
  if (s < 86400) return t('duration.hm', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t('duration.dh', { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

/** Time left, for a downloading task only; ∞ when nothing comes. */
export function eta(task) {
  if (task.state !== 1) return '';
  const left = task.total_bytes - task.dl_bytes;
  if (left <= 0) return '';
  return task.dl_speed > 0 ? duration(left / task.dl_speed) : t('duration.infinite');
}

/** Uploaded over downloaded, two decimals; ∞ for a task that uploaded without downloading. */
export function ratio(task) {
  // The server's ratio (uploaded ever over downloaded ever or held), when it sends one.
  if (typeof task.ratio === 'number') return number(task.ratio, 2);
  if (!task.dl_bytes) return task.ul_bytes ? '∞' : number(0, 2);
  return number(task.ul_bytes / task.dl_bytes, 2);
}

const dateFormats = new Map();
/** A Unix time in seconds as a short local date and time. */
export function date(seconds) {
  if (!seconds) return t('none');
  if (!dateFormats.has(language())) {
    dateFormats.set(language(), new Intl.DateTimeFormat(language(), { dateStyle: 'short', timeStyle: 'short' }));
  }
  return dateFormats.get(language()).format(new Date(seconds * 1000));
}

/** A row's state: its name, or the progress of a move of its files. */
export function stateText(task) {
  if (task.moving) {
    return t('state.moving', { percent: percentText(task.moving.done_bytes, task.moving.total_bytes) });
  }
  return stateName(task.state);
}

export function stateName(code) {
  return [0, 1, 2, 3, 4, 5].includes(code) ? t(`state.${code}`) : t('state.other', { code });
}

/**
 * Text from outside (a torrent's name, its files, a peer's client name) made safe to show: it
 * always goes in as text, never HTML, and here its control characters become visible symbols
 * (ESC shows as ␛, as in the Unicode Control Pictures) and bidirectional overrides and isolates
 * as their code point ("⟨U+202E⟩"), so a name cannot hide itself or reorder what follows it.
 */
export function visible(text) {
  return String(text ?? '').replace(/[\u0000-\u001f\u007f\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.codePointAt(0);
    if (code < 0x20) return String.fromCodePoint(0x2400 + code);
    if (code === 0x7f) return '\u2421';
    return `⟨U+${code.toString(16).toUpperCase().padStart(4, '0')}⟩`;
  });
}
