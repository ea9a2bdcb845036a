// The preferences dialog: every setting the server lets a client change (session.getSettings),
// grouped, each with the control its kind needs, marked when it takes effect only at the next
// start or is fixed by the server's command line. "Save" sends only what the user changed, in
// one session.setSettings (all or nothing: the server checks every key first), and shows the
// server's answer: the key it refused and why. Other clients' changes (session.settingsUpdated)
// update the fields the user has not touched. The session's labels are edited here too (name,
// folder, a ratio at which their tasks stop seeding), saved with session.setLabels.

import { t } from './i18n.js';

/** What kind of control each key gets, and which group it is in. */
export const FIELDS = [
  ['downloads', 'download_dir', 'path'],
  ['downloads', 'download_roots', 'paths'],
  ['downloads', 'watch_dir', 'path'],
  ['downloads', 'seed', 'bool'],
  ['downloads', 'seed_ratio_limit', 'ratio'],
  ['downloads', 'seed_time_limit_minutes', 'count'],
  ['downloads', 'seed_idle_limit_minutes', 'count'],
  ['speed', 'download_bps', 'bps'],
  ['speed', 'upload_bps', 'bps'],
  ['network', 'listen', 'text'],
  ['network', 'peer_port', 'count'],
  ['network', 'dht', 'bool'],
  ['network', 'upnp', 'bool'],
  ['network', 'lsd', 'bool'],
  ['remote', 'remote_admin', 'bool'],
  ['remote', 'loopback_needs_token', 'bool'],
  ['remote', 'allowed_hosts', 'lines'],
  ['remote', 'allowed_origins', 'lines'],
  ['remote', 'trusted_proxies', 'lines'],
  ['remote', 'remote_adds_per_minute', 'count'],
  ['remote', 'lockout_seconds', 'count'],
  ['limits', 'max_connections', 'count'],
  ['limits', 'max_message_bytes', 'count'],
  ['limits', 'max_queue_bytes', 'count'],
  ['tls', 'tls_self_signed', 'bool'],
  ['tls', 'tls_cert', 'path'],
  ['tls', 'tls_key', 'path'],
];

const GROUPS = ['downloads', 'speed', 'network', 'remote', 'limits', 'tls'];

/**
 * A field's text as the user sees it, from the server's value: lists one per line, an empty
 * field for null, limits in KiB/s (exactly).
 */
export function toField(kind, value) {
  if (value === null || value === undefined) return '';
  if (kind === 'lines' || kind === 'paths') return value.join('\n');
  if (kind === 'bps') return value ? String(value / 1024) : '';
  return String(value);
}

/**
 * The server's value from a field: undefined when the text is not a value of that kind (the
 * server would refuse it too; saying so here names the field at once).
 */
export function fromField(kind, text) {
  const trimmed = text.trim();
  switch (kind) {
    case 'bool':
      return text;
    case 'lines':
    case 'paths':
      return trimmed ? trimmed.split('\n').map((line) => line.trim()).filter(Boolean) : [];
    case 'path':
      return trimmed || null;
    case 'bps': {
      if (!trimmed) return null;
      const kib = Number(trimmed);
      return Number.isFinite(kib) && kib >= 0 ? Math.round(kib * 1024) : undefined;
    }
    case 'count': {
      if (!trimmed) return null;
      const n = Number(trimmed);
      return Number.isInteger(n) && n >= 0 ? n : undefined;
    }
    case 'ratio': {
      if (!trimmed) return null;
      const n = Number(trimmed);
      return Number.isFinite(n) && n >= 0 ? n : undefined;
    }
    default:
      return trimmed;
  }
}

export class Preferences {
  constructor(dialog, store) {
    this.dialog = dialog;
    this.store = store;
    this.form = dialog.querySelector('form');
    this.body = dialog.querySelector('.preferences-body');
    this.error = dialog.querySelector('.preferences-error');
    this.connection = null;
    this.inputs = new Map();
    this.form.addEventListener('submit', (e) => {
      if (e.submitter?.value !== 'save') return;
      e.preventDefault();
      this.save();
    });
  }

  setConnection(connection) {
    this.connection = connection;
  }

  /** Opens the dialog with the server's settings. */
  async open() {
    this.error.hidden = true;
    let settings;
    try {
      settings = await this.connection.request('session.getSettings', null);
    } catch (e) {
      this.error.textContent = e.message;
      this.error.hidden = false;
      this.body.replaceChildren();
      this.dialog.showModal();
      return;
    }
    this.build(settings);
    this.dialog.returnValue = '';
    this.dialog.showModal();
    this.body.querySelector('input, textarea')?.focus();
  }

  /** The fields, grouped, for the keys this server has (an older one may lack some). */
  build(info) {
    this.inputs.clear();
    this.shown = info;
    const sections = GROUPS.map((group) => {
      const set = document.createElement('fieldset');
      const legend = document.createElement('legend');
      legend.textContent = t(`prefs.group.${group}`);
      set.append(legend);
      for (const [inGroup, key, kind] of FIELDS) {
        if (inGroup !== group || !(key in info.settings)) continue;
        set.append(this.field(key, kind, info));
      }
      return set.children.length > 1 ? set : null;
    }).filter(Boolean);
    this.body.replaceChildren(...sections, this.labelsSection());
  }

  /** The labels: a row each (name, folder, ratio goal, remove), and "Add a label". */
  labelsSection() {
    const set = document.createElement('fieldset');
    set.className = 'labels-editor';
    const legend = document.createElement('legend');
    legend.textContent = t('prefs.group.labels');
    const rows = document.createElement('div');
    rows.className = 'label-rows';
    const add = document.createElement('button');
    add.type = 'button';
    add.className = 'add-label';
    add.textContent = t('prefs.addLabel');
    add.addEventListener('click', () => {
      const row = this.labelRow({ name: '', folder: null, seed_goal: null });
      rows.append(row);
      row.querySelector('input').focus();
    });
    this.labelsShown = JSON.stringify(this.store.labels);
    rows.append(...this.store.labels.map((label) => this.labelRow(label)));
    this.labelRows = rows;
    set.append(legend, rows, add);
    return set;
  }

  labelRow(label) {
    const row = document.createElement('div');
    row.className = 'label-row';
    row.seedGoal = label.seed_goal ?? null;
    const input = (key, value, type = 'text') => {
      const wrap = document.createElement('label');
      const name = document.createElement('span');
      name.textContent = t(key);
      const field = document.createElement('input');
      field.type = type;
      field.value = value ?? '';
      field.dataset.field = key;
      if (type === 'number') {
        field.min = '0';
        field.step = 'any';
      }
      wrap.append(name, field);
      return wrap;
    };
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.setAttribute('aria-label', t('prefs.removeLabel', { name: label.name }));
    remove.addEventListener('click', () => row.remove());
    const ratio = label.seed_goal?.ratio_limit;
    row.append(
      input('prefs.labelName', label.name),
      input('prefs.labelFolder', label.folder),
      input('prefs.labelRatio', typeof ratio === 'number' && ratio >= 0 ? String(ratio) : '', 'number'),
      remove,
    );
    return row;
  }

  /** The labels as the rows say, for session.setLabels; undefined when unchanged. */
  labelChanges() {
    if (!this.labelRows) return undefined;
    const labels = [...this.labelRows.children].map((row) => {
      const value = (key) => row.querySelector(`[data-field="${key}"]`).value.trim();
      const goal = { ...(row.seedGoal ?? {}) };
      const ratio = value('prefs.labelRatio');
      if (ratio) goal.ratio_limit = Number(ratio);
      else delete goal.ratio_limit;
      return {
        name: value('prefs.labelName'),
        folder: value('prefs.labelFolder') || null,
        seed_goal: Object.keys(goal).length ? goal : null,
      };
    }).filter((label) => label.name || label.folder);
    const before = JSON.parse(this.labelsShown).map((l) => ({ name: l.name, folder: l.folder ?? null, seed_goal: l.seed_goal ?? null }));
    return JSON.stringify(labels) === JSON.stringify(before) ? undefined : labels;
  }

  field(key, kind, info) {
    const label = document.createElement('label');
    label.className = kind === 'bool' ? 'check' : '';
    label.dataset.key = key;
    const name = document.createElement('span');
    name.textContent = t(`prefs.${key}`);
    let input;
    if (kind === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = Boolean(info.settings[key]);
    } else if (kind === 'lines' || kind === 'paths') {
      input = document.createElement('textarea');
      input.rows = 2;
      input.spellcheck = false;
      input.value = toField(kind, info.settings[key]);
    } else {
      input = document.createElement('input');
      input.type = ['count', 'ratio', 'bps'].includes(kind) ? 'number' : 'text';
      if (input.type === 'number') {
        input.min = '0';
        input.step = kind === 'count' ? '1' : 'any';
      }
      input.value = toField(kind, info.settings[key]);
      if (kind === 'bps') input.placeholder = t('limits.none');
    }
    input.name = key;
    input.dataset.kind = kind;
    input.dataset.initial = kind === 'bool' ? String(input.checked) : input.value;
    const notes = [];
    if (kind === 'bps') notes.push(t('limits.unit'));
    if (info.restart_required.includes(key)) notes.push(t('prefs.restart'));
    if (info.pending_restart.includes(key)) notes.push(t('prefs.pending'));
    if (info.overridden.includes(key)) {
      notes.push(t('prefs.overridden'));
      input.disabled = true;
    }
    const note = document.createElement('span');
    note.className = 'hint';
    note.textContent = notes.join(' · ');
    this.inputs.set(key, input);
    if (kind === 'bool') label.append(input, ' ', name, ' ', note);
    else label.append(name, ' ', note, input);
    return label;
  }

  /** What the user changed, as session.setSettings params; a field that is not a value: null. */
  changes() {
    const params = {};
    for (const [key, input] of this.inputs) {
      const kind = input.dataset.kind;
      const now = kind === 'bool' ? String(input.checked) : input.value;
      if (now === input.dataset.initial) continue;
      const value = kind === 'bool' ? input.checked : fromField(kind, input.value);
      if (value === undefined) return { bad: key };
      params[key] = value;
    }
    return { params };
  }

  async save() {
    const { params, bad } = this.changes();
    this.error.hidden = true;
    if (bad) {
      this.error.textContent = t('prefs.bad', { name: t(`prefs.${bad}`) });
      this.error.hidden = false;
      this.inputs.get(bad)?.focus();
      return;
    }
    const labels = this.labelChanges();
    if (!Object.keys(params).length && labels === undefined) {
      this.dialog.close('save');
      return;
    }
    try {
      if (labels !== undefined) {
        await this.connection.request('session.setLabels', { labels });
        this.labelsShown = JSON.stringify(labels);
      }
      if (Object.keys(params).length) await this.connection.request('session.setSettings', params);
      this.dialog.close('save');
    } catch (e) {
      this.error.textContent = e.message;
      this.error.hidden = false;
    }
  }

  /** Another client changed settings: fields the user has not touched follow. */
  updated(info) {
    if (!this.dialog.open) return;
    for (const [key, input] of this.inputs) {
      if (!(key in info.settings)) continue;
      const kind = input.dataset.kind;
      const touched = (kind === 'bool' ? String(input.checked) : input.value) !== input.dataset.initial;
      if (touched) continue;
      if (kind === 'bool') input.checked = Boolean(info.settings[key]);
      else input.value = toField(kind, info.settings[key]);
      input.dataset.initial = kind === 'bool' ? String(input.checked) : input.value;
    }
  }
}
