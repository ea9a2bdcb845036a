// torrentfile.js: a .torrent's files read in the page (to choose them before adding), the info
// hash of a magnet link, and junk refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { bdecode, magnetInfoHash, torrentFiles } from '../../ui/js/torrentfile.js';
import { runningSeconds } from '../../ui/js/detail.js';

/** Bencode written by the test itself, not by the code under test. */
function bencode(value) {
  if (typeof value === 'number') return `i${value}e`;
  if (typeof value === 'string') return `${new TextEncoder().encode(value).length}:${value}`;
  if (Array.isArray(value)) return `l${value.map(bencode).join('')}e`;
  const keys = Object.keys(value).sort();
  return `d${keys.map((k) => bencode(k) + bencode(value[k])).join('')}e`;
}
const bytes = (text) => new TextEncoder().encode(text);

test('a multi-file torrent: its name and files in order, nested paths joined', () => {
  const torrent = bencode({
    announce: 'http://127.0.0.1/announce',
    info: {
      name: 'album',
      'piece length': 16384,
      pieces: 'x'.repeat(20),
      files: [
        { length: 5, path: ['cd1', 'track 1.flac'] },
        { length: 0, path: ['empty.txt'] },
        { length: 7, path: ['cd2', 'ü', 'a.flac'] },
      ],
    },
  });
  assert.deepEqual(torrentFiles(bytes(torrent)), {
    name: 'album',
    files: [
      { path: 'cd1/track 1.flac', size: 5 },
      { path: 'empty.txt', size: 0 },
      { path: 'cd2/ü/a.flac', size: 7 },
    ],
  });
});

test('a single-file torrent is one file named after it', () => {
  const torrent = bencode({ info: { name: 'movie.mkv', length: 1234, 'piece length': 1, pieces: '' } });
  assert.deepEqual(torrentFiles(bytes(torrent)), { name: 'movie.mkv', files: [{ path: 'movie.mkv', size: 1234 }] });
});

test('junk, truncation and deep nesting are refused with an error, not a crash', () => {
  assert.throws(() => torrentFiles(bytes('hello')), /not a torrent file/);
  assert.throws(() => torrentFiles(bytes('d4:infod4:name')), /not a torrent file/);
  assert.throws(() => torrentFiles(bytes('d3:fooi1ee')), /no info dictionary/);
  assert.throws(() => bdecode(bytes('l'.repeat(10000))), /nested too deep/);
  assert.throws(() => bdecode(bytes('99999:abc')), /past the end/);
});

test('the info hash of a magnet link, hex or base32, or of a bare hash', () => {
  const hex = 'c9e15763f722f23e98a29decdfae341b98d53056';
  assert.equal(magnetInfoHash(`magnet:?xt=urn:btih:${hex.toUpperCase()}&dn=x`), hex);
  assert.equal(magnetInfoHash(hex), hex);
  // The same hash in base32 (RFC 4648), computed independently (Python's base64.b32encode): ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW.
  assert.equal(magnetInfoHash('magnet:?dn=a&xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW'), hex);
  assert.equal(magnetInfoHash('magnet:?xt=urn:sha1:abc'), null);
  assert.equal(magnetInfoHash('https://example.org/x.torrent'), null);
  assert.equal(magnetInfoHash('not a link'), null);
});

test('time in a state: the server\'s count plus the time since the state began', () => {
  const task = { state: 2, seconds_seeding: 100, state_since: 1000 };
  assert.equal(runningSeconds(task, 'seconds_seeding', 2, 1060), 160);
  assert.equal(runningSeconds({ ...task, state: 4 }, 'seconds_seeding', 2, 1060), 100);
  assert.equal(runningSeconds({}, 'seconds_seeding', 2, 1060), 0);
});
