// Human formatting: sizes, speeds, durations, states. Pure functions, no DOM.

export const STATES = ['Preparing', 'Downloading', 'Seeding', 'Finished', 'Paused', 'Error'];

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function size(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function speed(bps) {
  return bps > 0 ? `${size(bps)}/s` : '';
}

export function percent(done, total) {
  if (!total) return 0;
  return Math.min(100, (done / total) * 100);
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '∞';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function eta(task) {
  if (task.state !== 1) return '';
  const left = task.total_bytes - task.dl_bytes;
  if (left <= 0) return '';
  return task.dl_speed > 0 ? duration(left / task.dl_speed) : '∞';
}

export function ratio(task) {
  if (!task.dl_bytes) return task.ul_bytes ? '∞' : '0.00';
  return (task.ul_bytes / task.dl_bytes).toFixed(2);
}

export function date(seconds) {
  if (!seconds) return '—';
  const d = new Date(seconds * 1000);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

export function stateName(code) {
  return STATES[code] ?? `State ${code}`;
}
