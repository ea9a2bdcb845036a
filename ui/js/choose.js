// "Choose files before starting": the files of a torrent as a tree of checkboxes (a folder's box
// chooses all of it), with the chosen size, before a byte is written. For a .torrent the files
// are known at once; for a magnet the dialog says it waits for the metadata, then shows them.

import * as fmt from './format.js';
import { t } from './i18n.js';
import { buildTree, findDir, visibleRows } from './filetree.js';

export class ChooseDialog {
  constructor(dialog) {
    this.dialog = dialog;
    this.list = dialog.querySelector('#choose-files');
    this.status = dialog.querySelector('#choose-status');
    this.total = dialog.querySelector('#choose-total');
    this.ok = dialog.querySelector('#choose-ok');
    this.list.addEventListener('change', (e) => this.toggled(e));
  }

  /**
   * Opens the dialog for `name`; `files` now, or later through `show(files)` (a magnet).
   * Resolves with the chosen indices, or null when cancelled.
   */
  open(name, files = null) {
    this.name = name;
    this.dialog.querySelector('#choose-heading').textContent = t('choose.heading', { name: fmt.visible(name) });
    this.files = null;
    this.list.replaceChildren();
    this.total.textContent = '';
    this.status.textContent = files ? '' : t('choose.waiting', { name: fmt.visible(name) });
    this.ok.disabled = !files;
    const done = new Promise((resolve) => {
      this.dialog.onclose = () => {
        const chosen = this.dialog.returnValue === 'ok' && this.files
          ? this.chosen.flatMap((on, i) => (on ? [i] : [])) : null;
        resolve(chosen);
      };
    });
    this.dialog.returnValue = '';
    this.dialog.showModal();
    if (files) this.show(files);
    return done;
  }

  /** The files arrived (with the torrent's real `name`, for a magnet): all chosen at first. */
  show(files, name = null) {
    if (name) this.dialog.querySelector('#choose-heading').textContent = t('choose.heading', { name: fmt.visible(name) });
    this.files = files;
    this.chosen = files.map(() => true);
    this.tree = buildTree(files);
    this.status.textContent = '';
    this.ok.disabled = false;
    this.list.replaceChildren(...visibleRows(this.tree, new Set()).map(({ dir, file, depth }) => {
      const row = document.createElement('label');
      row.className = 'choose-row';
      row.setAttribute('role', 'listitem');
      row.style.paddingLeft = `${depth * 1.2 + 0.4}rem`;
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = true;
      const name = document.createElement('span');
      const size = document.createElement('span');
      size.className = 'hint';
      if (dir) {
        row.dataset.dir = dir.path;
        row.classList.add('dir');
        name.textContent = `${fmt.visible(dir.name)}/`;
        size.textContent = fmt.size(dir.all.reduce((sum, i) => sum + files[i].size, 0));
      } else {
        row.dataset.index = file.index;
        name.textContent = fmt.visible(file.name);
        size.textContent = fmt.size(files[file.index].size);
      }
      row.append(box, ' ', name, ' ', size);
      return row;
    }));
    this.list.querySelector('input')?.focus();
    this.paint();
  }

  toggled(event) {
    const row = event.target.closest('.choose-row');
    if (!row) return;
    const members = row.dataset.dir ? findDir(this.tree, row.dataset.dir)?.all ?? [] : [Number(row.dataset.index)];
    for (const i of members) this.chosen[i] = event.target.checked;
    this.paint();
  }

  /** Every box from the choice (a folder: checked, unchecked or mixed), and the total. */
  paint() {
    for (const row of this.list.children) {
      const box = row.firstChild;
      const members = row.dataset.dir ? findDir(this.tree, row.dataset.dir)?.all ?? [] : [Number(row.dataset.index)];
      const on = members.filter((i) => this.chosen[i]).length;
      box.checked = on === members.length;
      box.indeterminate = on > 0 && on < members.length;
    }
    const count = this.chosen.filter(Boolean).length;
    const size = this.files.reduce((sum, f, i) => sum + (this.chosen[i] ? f.size : 0), 0);
    this.total.textContent = t('choose.total', {
      count: fmt.number(count), files: fmt.number(this.files.length), size: fmt.size(size),
    });
  }
}
