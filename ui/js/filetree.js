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
