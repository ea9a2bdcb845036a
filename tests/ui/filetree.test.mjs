// filetree.js: the tree, what is visible when folders are closed, and the file choices that
// merge quick toggles instead of undoing them.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { buildTree, findDir, FileChoices, visibleRows } from '../../ui/js/filetree.js';

const FILES = [
  { path: 'album/disc1/a.flac', size: 1 },
  { path: 'album/disc1/b.flac', size: 2 },
  { path: 'album/disc2/a.flac', size: 3 },
  { path: 'album/cover.jpg', size: 4 },
  { path: 'readme.txt', size: 5 },
];

const names = (rows) => rows.map((r) => (r.dir ? `${r.dir.path}/` : FILES[r.file.index].path));

test('folders first, files in torrent order, every folder knows its files', () => {
  const tree = buildTree(FILES);
  assert.deepEqual(names(visibleRows(tree, new Set())), [
    'album/', 'album/disc1/', 'album/disc1/a.flac', 'album/disc1/b.flac', 'album/disc2/',
    'album/disc2/a.flac', 'album/cover.jpg', 'readme.txt',
  ]);
  assert.deepEqual(findDir(tree, 'album/disc1').all, [0, 1]);
  assert.deepEqual(findDir(tree, 'album').all.sort(), [0, 1, 2, 3]);
  assert.equal(findDir(tree, 'album/disc3'), null);
  // "album/disc1" is not inside "album/disc"'s prefix trap.
  assert.equal(findDir(buildTree([{ path: 'x/disc10/f', size: 1 }]), 'x/disc1'), null);
});

test('a closed folder hides what is inside it, and nothing else', () => {
  const tree = buildTree(FILES);
  assert.deepEqual(names(visibleRows(tree, new Set(['album/disc1']))), [
    'album/', 'album/disc1/', 'album/disc2/', 'album/disc2/a.flac', 'album/cover.jpg', 'readme.txt',
  ]);
  assert.deepEqual(names(visibleRows(tree, new Set(['album']))), ['album/', 'readme.txt']);
});

/** A server that answers task.setFiles when the test says. */
function slowServer() {
  const calls = [];
  const send = (files) => new Promise((resolve, reject) => calls.push({ files, resolve, reject }));
  return { calls, send };
}

test('two quick toggles: both hold, and the second list is built on the first', async () => {
  const server = slowServer();
  const choices = new FileChoices(server.send);
  choices.reset([true, true, true, true, true]);
  const first = choices.toggle([0], false);
  const second = choices.toggle([4], false);
  // Both show at once, before any answer.
  assert.equal(choices.isSelected(0), false);
  assert.equal(choices.isSelected(4), false);
  assert.equal(server.calls.length, 1, 'one request at a time');
  assert.deepEqual(server.calls[0].files, [1, 2, 3, 4]);
  server.calls[0].resolve();
  await new Promise((r) => setImmediate(r));
  assert.equal(server.calls.length, 2);
  assert.deepEqual(server.calls[1].files, [1, 2, 3], 'the second list keeps the first choice');
  server.calls[1].resolve();
  await Promise.all([first, second]);
  assert.equal(choices.pending(), false);
  assert.equal(choices.isSelected(0), false);
  assert.equal(choices.isSelected(4), false);
});

test('a status asked before the server had the choice does not flip the boxes back', async () => {
  const server = slowServer();
  const choices = new FileChoices(server.send);
  choices.reset([true, true]);
  const asked = choices.stamp; // a getStatus goes out now…
  const done = choices.toggle([1], false);
  server.calls[0].resolve();
  await done;
  // …and comes back after the choice, with the old selection.
  choices.serverSaid([true, true], asked);
  assert.equal(choices.isSelected(1), false);
  // A status asked after it is believed.
  choices.serverSaid([false, true], choices.stamp);
  assert.equal(choices.isSelected(0), false);
  assert.equal(choices.isSelected(1), true);
});

test('a refused choice goes back to what the server has', async () => {
  const server = slowServer();
  const choices = new FileChoices(server.send);
  choices.reset([true, true]);
  const done = choices.toggle([0], false);
  server.calls[0].reject(new Error('refused'));
  await assert.rejects(done, /refused/);
  assert.equal(choices.isSelected(0), true);
  assert.equal(choices.pending(), false);
});
