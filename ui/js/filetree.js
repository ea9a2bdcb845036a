// The file tree of a torrent: folders (collapsible, with the sum of their files' sizes and
// progress, and a checkbox for all of them) and files, flattened into the rows in view. Pure
// data: the detail pane draws the rows.

/** Builds the tree once per metadata: folders in first-seen order, files in torrent order. */
export function buildTree(files) {
  const root = { name: '', path: '', dirs: new Map(), files: [] };
  files.forEach((file, index) => {
    const parts = file.path.split('/');
    let node = root;
    parts.slice(0, -1).forEach((part, depth) => {
      if (!node.dirs.has(part)) {
        node.dirs.set(part, {
          name: part, path: parts.slice(0, depth + 1).join('/'), dirs: new Map(), files: [],
        });
      }
      node = node.dirs.get(part);
    });
    node.files.push({ index, name: parts[parts.length - 1] });
  });
  const indices = (node) => [
    ...node.files.map((f) => f.index),
    ...[...node.dirs.values()].flatMap(indices),
  ];
  const annotate = (node) => {
    node.all = indices(node);
    node.dirs.forEach(annotate);
  };
  annotate(root);
  return root;
}

/** The visible rows: {dir, depth} for folders, {file, depth} for files; collapsed folders
 *  hide what is inside them. */
export function visibleRows(root, collapsed) {
  const rows = [];
  const walk = (node, depth) => {
    for (const dir of node.dirs.values()) {
      rows.push({ dir, depth });
      if (!collapsed.has(dir.path)) walk(dir, depth + 1);
    }
    for (const file of node.files) rows.push({ file, depth });
  };
  walk(root, 0);
  return rows;
}

/** The folder node at `path` ("a/b"), or null. */
export function findDir(node, path) {
  for (const dir of node.dirs.values()) {
    if (dir.path === path) return dir;
    if (path.startsWith(`${dir.path}/`)) return findDir(dir, path);
  }
  return null;
}

/**
 * The user's choice of files for one task, sent as `task.setFiles` (which takes the whole list).
 * Toggles apply at once to what is shown and merge into one pending choice: two quick clicks
 * send one list with both, or two lists in order, each built on the one before, never two
 * lists from the same stale start where the second undoes the first. A status asked before the
 * server had the latest choice is ignored, so the boxes never flicker back.
 */
export class FileChoices {
  /** `send(indices)` resolves when the server has that choice. */
  constructor(send) {
    this.send = send;
    this.server = [];
    this.wanted = null;
    this.dirty = false;
    this.inFlight = null;
    // Counts the choices the server confirmed: a status asked before the latest is stale.
    this.stamp = 0;
  }

  /** What the server has, for a task just shown (`selected[i]` for file i). */
  reset(selected) {
    this.server = [...selected];
    this.wanted = null;
    this.dirty = false;
    this.stamp += 1;
  }

  /** A status said the server has `selected`; `stamp` is `this.stamp` when it was asked for. */
  serverSaid(selected, stamp) {
    if (!Array.isArray(selected) || this.inFlight || stamp !== this.stamp) return;
    this.server = [...selected];
  }

  /** Whether file `index` is chosen, as the user sees it now. */
  isSelected(index) {
    return (this.wanted ?? this.server)[index] ?? true;
  }

  /** Whether some choices are not confirmed by the server yet. */
  pending() {
    return this.wanted !== null;
  }

  /** Chooses (`on`) or skips the files `members`; resolves when the server has it. */
  toggle(members, on) {
    const next = [...(this.wanted ?? this.server)];
    for (const i of members) next[i] = on;
    this.wanted = next;
    this.dirty = true;
    return this.flush();
  }

  flush() {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (async () => {
      try {
        while (this.dirty) {
          this.dirty = false;
          const sending = this.wanted;
          await this.send(sending.flatMap((on, i) => (on === false ? [] : [i])));
          this.server = sending;
          this.stamp += 1;
        }
        this.wanted = null;
      } catch (e) {
        // Back to what the server has: the failed choice and any merged into it.
        this.wanted = null;
        this.dirty = false;
        throw e;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }
}
