// What the add dialog needs to know before a task exists: the files of a .torrent (to choose
// them before a byte is written) and the info hash a magnet link names (to find its task when
// its metadata arrives). Pure: bytes and strings in, plain data out. A file that is not a
// torrent gives an error, never a throw from deep inside.

const MAX_DEPTH = 64;

/** Parses bencode from `bytes` (a Uint8Array); returns the value (strings stay bytes). */
export function bdecode(bytes) {
  let at = 0;
  const fail = (why) => {
    throw new Error(`not a torrent file: ${why} at byte ${at}`);
  };
  const digits = (end) => {
    const stop = bytes.indexOf(end, at);
    if (stop < 0) fail('unterminated number');
    const text = new TextDecoder().decode(bytes.subarray(at, stop));
    if (!/^-?\d+$/.test(text)) fail('bad number');
    at = stop + 1;
    return Number(text);
  };
  const value = (depth) => {
    if (depth > MAX_DEPTH) fail('nested too deep');
    if (at >= bytes.length) fail('truncated');
    const c = bytes[at];
    if (c === 0x69) { // i
      at += 1;
      return digits(0x65);
    }
    if (c === 0x6c || c === 0x64) { // l, d
      at += 1;
      const list = [];
      while (bytes[at] !== 0x65) {
        if (at >= bytes.length) fail('truncated');
        list.push(value(depth + 1));
      }
      at += 1;
      if (c === 0x6c) return list;
      const dict = new Map();
      for (let i = 0; i + 1 < list.length; i += 2) dict.set(text(list[i]), list[i + 1]);
      return dict;
    }
    if (c >= 0x30 && c <= 0x39) {
      const length = digits(0x3a);
      if (at + length > bytes.length) fail('string past the end');
      const s = bytes.subarray(at, at + length);
      at += length;
      return s;
    }
    return fail('unexpected byte');
  };
  const result = value(0);
  return result;
}

function text(bytes) {
  return bytes instanceof Uint8Array ? new TextDecoder().decode(bytes) : String(bytes);
}

/**
 * The name and files of a .torrent: {name, files: [{path, size}]} in torrent order, paths as
 * the server lays them out (relative to the torrent's folder). Throws a clear error otherwise.
 */
export function torrentFiles(bytes) {
  const root = bdecode(bytes);
  const info = root instanceof Map ? root.get('info') : null;
  if (!(info instanceof Map)) throw new Error('not a torrent file: no info dictionary');
  const name = text(info.get('name.utf-8') ?? info.get('name') ?? new Uint8Array());
  const list = info.get('files');
  if (Array.isArray(list)) {
    return {
      name,
      files: list.map((entry) => {
        const parts = entry.get('path.utf-8') ?? entry.get('path') ?? [];
        return { path: parts.map(text).join('/'), size: Number(entry.get('length') ?? 0) };
      }),
    };
  }
  return { name, files: [{ path: name, size: Number(info.get('length') ?? 0) }] };
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The v1 info hash (40 lower-case hex) a magnet link or a bare hash names, or null. */
export function magnetInfoHash(link) {
  const trimmed = String(link).trim();
  if (/^[0-9a-fA-F]{40}$/.test(trimmed)) return trimmed.toLowerCase();
  let url;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if (url.protocol !== 'magnet:') return null;
  const params = new URLSearchParams(url.search || url.pathname.replace(/^\?/, ''));
  for (const xt of params.getAll('xt')) {
    const match = /^urn:btih:([0-9a-zA-Z]+)$/.exec(xt);
    if (!match) continue;
    const hash = match[1];
    if (/^[0-9a-fA-F]{40}$/.test(hash)) return hash.toLowerCase();
    if (/^[A-Za-z2-7]{32}$/.test(hash)) {
      let bits = '';
      for (const c of hash.toUpperCase()) bits += BASE32.indexOf(c).toString(2).padStart(5, '0');
      let hex = '';
      for (let i = 0; i < 160; i += 4) hex += parseInt(bits.slice(i, i + 4), 2).toString(16);
      return hex;
    }
  }
  return null;
}
