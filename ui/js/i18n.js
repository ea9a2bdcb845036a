// Every string the UI shows, in English and German, and the language they are shown in. A
// language is picked from the user's choice (saved in this browser), else `navigator.language`.
// Numbers and dates are formatted by `Intl` in format.js, with the same language.
//
// Nothing here touches the page at import time, so that `node --test` can load it: the page
// calls `initLanguage()` and `translatePage()`.

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'de', name: 'Deutsch' },
];

const LANGUAGE_KEY = 'magnetar.language';

/* eslint-disable quote-props */
const en = {
  'add.placeholder': 'Paste a magnet link or an info hash',
  'add.label': 'Magnet link or info hash',
  'add.button': 'Add',
  'add.open': 'Open…',
  'add.open.title': 'Add .torrent files',
  'add.options': 'Add with options…',
  'search.placeholder': 'Search by name',
  'search.label': 'Search by name',
  'action.pause': 'Pause',
  'action.resume': 'Resume',
  'action.remove': 'Remove',
  'action.removeEllipsis': 'Remove…',
  'action.details': 'Details',
  'action.pause.title': 'Pause the selected tasks (Space in the table)',
  'action.resume.title': 'Resume the selected tasks (Space in the table)',
  'action.remove.title': 'Remove the selected tasks (Delete in the table)',
  'columns.button': 'Columns',
  'columns.label': 'Columns shown',
  'connect.button': 'Connect to…',
  'connect.button.title': 'Connect to another Magnetar',
  'settings.language': 'Language',
  'settings.theme': 'Theme',
  'theme.auto': 'System',
  'theme.light': 'Light',
  'theme.dark': 'Dark',
  'notify.off': 'Notify me',
  'notify.on': 'Notifications on',
  'notify.title': 'Show a browser notification when a download completes or fails',
  'notify.denied': 'This browser blocks notifications from this page: allow them in its site settings.',
  'notify.unsupported': 'This browser cannot show notifications.',
  'notify.done.title': 'Download complete',
  'notify.failed.title': 'Download failed',
  'shortcuts.button': 'Keys',
  'shortcuts.title': 'Keyboard shortcuts',
  'shortcuts.close': 'Close',
  'shortcuts.grid': 'In the task table',
  'shortcuts.arrows': 'Move; with Shift, extend the selection',
  'shortcuts.homeEnd': 'First or last task',
  'shortcuts.space': 'Pause or resume the selection',
  'shortcuts.enter': 'Open the details',
  'shortcuts.delete': 'Remove the selection',
  'shortcuts.menu': 'Actions menu',
  'shortcuts.all': 'Select all',
  'shortcuts.search': 'Search',
  'shortcuts.escape': 'Close a menu or dialog',
  'key.space': 'Space',
  'key.enter': 'Enter',
  'key.delete': 'Delete',
  'key.home': 'Home',
  'key.end': 'End',
  'key.pgup': 'PgUp',
  'key.pgdn': 'PgDn',
  'key.ctrl': 'Ctrl',
  'key.shift': 'Shift',
  'key.menu': 'Menu',
  'key.esc': 'Esc',
  'connection.connecting': 'Connecting to {host}…',
  'connection.connected': 'Connected to {host}',
  'connection.lost': 'Connection lost',
  'connection.reconnecting': 'Reconnecting to {host}…',
  'connection.unauthorized': 'Token needed',
  'filters.label': 'Filter by state',
  'filter.all': 'All',
  'filter.downloading': 'Downloading',
  'filter.seeding': 'Seeding',
  'filter.finished': 'Finished',
  'filter.paused': 'Paused',
  'filter.error': 'Error',
  'filter.preparing': 'Preparing',
  'state.0': 'Preparing',
  'state.1': 'Downloading',
  'state.2': 'Seeding',
  'state.3': 'Finished',
  'state.4': 'Paused',
  'state.5': 'Error',
  'state.other': 'State {code}',
  'grid.label': 'Tasks',
  'col.name': 'Name',
  'col.state': 'State',
  'col.progress': 'Progress',
  'col.size': 'Size',
  'col.downloaded': 'Done',
  'col.down': '↓ Speed',
  'col.up': '↑ Speed',
  'col.eta': 'ETA',
  'col.ratio': 'Ratio',
  'col.peers': 'Peers',
  'col.added': 'Added',
  'sort.by': 'Sort by {column}',
  'empty': 'No tasks. Paste a magnet link, open a .torrent file, or drop one here.',
  'empty.filtered': 'No task matches this filter or search.',
  'detail.label': 'Task details',
  'detail.close': 'Close the details',
  'tab.overview': 'Overview',
  'tab.files': 'Files',
  'tab.peers': 'Peers',
  'tab.pieces': 'Pieces',
  'tab.speed': 'Speed',
  'fact.name': 'Name',
  'fact.state': 'State',
  'fact.hash': 'Info hash',
  'fact.savedIn': 'Saved in',
  'fact.size': 'Size',
  'fact.downloaded': 'Downloaded',
  'fact.uploaded': 'Uploaded',
  'fact.ratio': 'Ratio',
  'fact.peers': 'Peers / seeds',
  'fact.added': 'Added',
  'fact.files': 'Files',
  'fact.creator': 'Created by',
  'fact.comment': 'Comment',
  'files.label': 'Files of this task',
  'files.download': 'Download {name}',
  'files.folder': 'Folder {name}',
  'files.waiting': 'The file list arrives with the metadata.',
  'peers.client': 'Client',
  'peers.address': 'Address',
  'peers.down': '↓',
  'peers.up': '↑',
  'peers.downloaded': 'Downloaded',
  'peers.uploaded': 'Uploaded',
  'peers.none': 'No peer connected.',
  'pieces.count': '{held} of {total} pieces',
  'speed.legendDown': 'download',
  'speed.legendUp': 'upload',
  'speed.window': '(last 5 minutes)',
  'speed.peak': 'peak {speed}',
  'speed.summary': 'Speed over the last 5 minutes: now ↓ {down} ↑ {up}, peak {peak}.',
  'status.totals': '↓ {down}  ↑ {up}  ·  {tasks}, {active} downloading',
  'status.tasks.one': '{count} task',
  'status.tasks.other': '{count} tasks',
  'limits.label': 'Speed limits',
  'limits.down': '↓ limit',
  'limits.up': '↑ limit',
  'limits.unit': 'KiB/s',
  'limits.none': '∞',
  'limits.set': 'Set',
  'limits.saved': 'Saved',
  'limits.bad': 'A limit is a number of KiB/s, 0 or more (empty: no limit).',
  'menu.label': 'Task actions',
  'drop': 'Drop .torrent files or a magnet link',
  'token.heading': 'This server needs its API token',
  'token.placeholder': 'API token',
  'token.label': 'API token',
  'token.remember': 'Remember this token in this browser',
  'dialog.cancel': 'Cancel',
  'dialog.connect': 'Connect',
  'connect.heading': 'Connect to a Magnetar',
  'connect.url': 'WebSocket URL',
  'connect.token': 'Token',
  'connect.tokenPlaceholder': '(not needed on this machine)',
  'connect.recent': 'Recent servers',
  'connect.forget': 'Forget this server',
  'connect.forget.title': "Remove this server's saved token, and the server from the recent ones",
  'connect.local': 'This server',
  'connect.forgot': 'Forgot {server}: no saved token, not a recent server.',
  'remove.one': 'Remove “{name}”?',
  'remove.many.one': 'Remove {count} task?',
  'remove.many.other': 'Remove {count} tasks?',
  'remove.data': 'Also delete the downloaded data',
  'remove.confirm': 'Remove',
  'addDialog.heading': 'Add a task',
  'addDialog.links': 'Magnet links or info hashes, one per line',
  'addDialog.files': '.torrent files',
  'addDialog.paused': 'Start paused',
  'addDialog.add': 'Add',
  'addDialog.nothing': 'Paste a magnet link or choose a .torrent file.',
  'bulk.pause': 'Pausing {done} of {total}…',
  'bulk.resume': 'Resuming {done} of {total}…',
  'bulk.remove': 'Removing {done} of {total}…',
  'bulk.done.pause.one': 'Paused {count} task.',
  'bulk.done.pause.other': 'Paused {count} tasks.',
  'bulk.done.resume.one': 'Resumed {count} task.',
  'bulk.done.resume.other': 'Resumed {count} tasks.',
  'bulk.done.remove.one': 'Removed {count} task.',
  'bulk.done.remove.other': 'Removed {count} tasks.',
  'bulk.failed.one': '{count} failed:',
  'bulk.failed.other': '{count} failed:',
  'bulk.more.one': '… and {count} more',
  'bulk.more.other': '… and {count} more',
  'added.one': 'Added {count} task.',
  'added.other': 'Added {count} tasks.',
  'error.notConnected': 'Not connected to the server.',
  'error.lost': 'The connection to the server was lost.',
  'error.timeout': 'No answer from the server to {method}.',
  'unit.B': 'B',
  'unit.KiB': 'KiB',
  'unit.MiB': 'MiB',
  'unit.GiB': 'GiB',
  'unit.TiB': 'TiB',
  'unit.PiB': 'PiB',
  'unit.perSecond': '{size}/s',
  'duration.s': '{s}s',
  'duration.ms': '{m}m {s}s',
  'duration.hm': '{h}h {m}m',
  'duration.dh': '{d}d {h}h',
  'duration.infinite': '∞',
  'none': '—',
};

const de = {
  'add.placeholder': 'Magnet-Link oder Info-Hash einfügen',
  'add.label': 'Magnet-Link oder Info-Hash',
  'add.button': 'Hinzufügen',
  'add.open': 'Öffnen…',
  'add.open.title': '.torrent-Dateien hinzufügen',
  'add.options': 'Mit Optionen hinzufügen…',
  'search.placeholder': 'Nach Namen suchen',
  'search.label': 'Nach Namen suchen',
  'action.pause': 'Anhalten',
  'action.resume': 'Fortsetzen',
  'action.remove': 'Entfernen',
  'action.removeEllipsis': 'Entfernen…',
  'action.details': 'Details',
  'action.pause.title': 'Die ausgewählten Aufgaben anhalten (Leertaste in der Tabelle)',
  'action.resume.title': 'Die ausgewählten Aufgaben fortsetzen (Leertaste in der Tabelle)',
  'action.remove.title': 'Die ausgewählten Aufgaben entfernen (Entf in der Tabelle)',
  'columns.button': 'Spalten',
  'columns.label': 'Angezeigte Spalten',
  'connect.button': 'Verbinden mit…',
  'connect.button.title': 'Mit einem anderen Magnetar verbinden',
  'settings.language': 'Sprache',
  'settings.theme': 'Farbschema',
  'theme.auto': 'System',
  'theme.light': 'Hell',
  'theme.dark': 'Dunkel',
  'notify.off': 'Benachrichtigen',
  'notify.on': 'Benachrichtigungen an',
  'notify.title': 'Eine Browser-Benachrichtigung zeigen, wenn ein Download fertig ist oder scheitert',
  'notify.denied': 'Dieser Browser blockiert Benachrichtigungen dieser Seite: Erlauben Sie sie in den Website-Einstellungen.',
  'notify.unsupported': 'Dieser Browser kann keine Benachrichtigungen zeigen.',
  'notify.done.title': 'Download abgeschlossen',
  'notify.failed.title': 'Download gescheitert',
  'shortcuts.button': 'Tasten',
  'shortcuts.title': 'Tastenkürzel',
  'shortcuts.close': 'Schließen',
  'shortcuts.grid': 'In der Aufgabentabelle',
  'shortcuts.arrows': 'Bewegen; mit Umschalt die Auswahl erweitern',
  'shortcuts.homeEnd': 'Erste oder letzte Aufgabe',
  'shortcuts.space': 'Auswahl anhalten oder fortsetzen',
  'shortcuts.enter': 'Details öffnen',
  'shortcuts.delete': 'Auswahl entfernen',
  'shortcuts.menu': 'Aktionsmenü',
  'shortcuts.all': 'Alle auswählen',
  'shortcuts.search': 'Suchen',
  'shortcuts.escape': 'Menü oder Dialog schließen',
  'key.space': 'Leertaste',
  'key.enter': 'Eingabe',
  'key.delete': 'Entf',
  'key.home': 'Pos1',
  'key.end': 'Ende',
  'key.pgup': 'Bild↑',
  'key.pgdn': 'Bild↓',
  'key.ctrl': 'Strg',
  'key.shift': 'Umschalt',
  'key.menu': 'Menü',
  'key.esc': 'Esc',
  'connection.connecting': 'Verbinde mit {host}…',
  'connection.connected': 'Verbunden mit {host}',
  'connection.lost': 'Verbindung verloren',
  'connection.reconnecting': 'Verbinde erneut mit {host}…',
  'connection.unauthorized': 'Token erforderlich',
  'filters.label': 'Nach Zustand filtern',
  'filter.all': 'Alle',
  'filter.downloading': 'Lädt herunter',
  'filter.seeding': 'Verteilt',
  'filter.finished': 'Fertig',
  'filter.paused': 'Angehalten',
  'filter.error': 'Fehler',
  'filter.preparing': 'Vorbereitung',
  'state.0': 'Vorbereitung',
  'state.1': 'Lädt herunter',
  'state.2': 'Verteilt',
  'state.3': 'Fertig',
  'state.4': 'Angehalten',
  'state.5': 'Fehler',
  'state.other': 'Zustand {code}',
  'grid.label': 'Aufgaben',
  'col.name': 'Titel',
  'col.state': 'Zustand',
  'col.progress': 'Fortschritt',
  'col.size': 'Größe',
  'col.downloaded': 'Erhalten',
  'col.down': '↓ Rate',
  'col.up': '↑ Rate',
  'col.eta': 'Restzeit',
  'col.ratio': 'Verhältnis',
  'col.peers': 'Gegenstellen',
  'col.added': 'Hinzugefügt',
  'sort.by': 'Sortieren nach {column}',
  'empty': 'Keine Aufgaben. Fügen Sie einen Magnet-Link ein, öffnen Sie eine .torrent-Datei oder ziehen Sie sie hierher.',
  'empty.filtered': 'Keine Aufgabe passt zu diesem Filter oder dieser Suche.',
  'detail.label': 'Einzelheiten der Aufgabe',
  'detail.close': 'Einzelheiten schließen',
  'tab.overview': 'Übersicht',
  'tab.files': 'Dateien',
  'tab.peers': 'Gegenstellen',
  'tab.pieces': 'Stücke',
  'tab.speed': 'Verlauf',
  'fact.name': 'Titel',
  'fact.state': 'Zustand',
  'fact.hash': 'Info-Hash',
  'fact.savedIn': 'Gespeichert in',
  'fact.size': 'Größe',
  'fact.downloaded': 'Heruntergeladen',
  'fact.uploaded': 'Hochgeladen',
  'fact.ratio': 'Verhältnis',
  'fact.peers': 'Gegenstellen / Quellen',
  'fact.added': 'Hinzugefügt',
  'fact.files': 'Dateien',
  'fact.creator': 'Erstellt mit',
  'fact.comment': 'Kommentar',
  'files.label': 'Dateien dieser Aufgabe',
  'files.download': '{name} herunterladen',
  'files.folder': 'Ordner {name}',
  'files.waiting': 'Die Dateiliste kommt mit den Metadaten.',
  'peers.client': 'Programm',
  'peers.address': 'Adresse',
  'peers.down': '↓',
  'peers.up': '↑',
  'peers.downloaded': 'Heruntergeladen',
  'peers.uploaded': 'Hochgeladen',
  'peers.none': 'Keine Gegenstelle verbunden.',
  'pieces.count': '{held} von {total} Stücken',
  'speed.legendDown': 'herunter',
  'speed.legendUp': 'hoch',
  'speed.window': '(letzte 5 Minuten)',
  'speed.peak': 'Spitze {speed}',
  'speed.summary': 'Rate der letzten 5 Minuten: jetzt ↓ {down} ↑ {up}, Spitze {peak}.',
  'status.totals': '↓ {down}  ↑ {up}  ·  {tasks}, {active} laden herunter',
  'status.tasks.one': '{count} Aufgabe',
  'status.tasks.other': '{count} Aufgaben',
  'limits.label': 'Ratenbegrenzung',
  'limits.down': '↓ Grenze',
  'limits.up': '↑ Grenze',
  'limits.unit': 'KiB/s',
  'limits.none': '∞',
  'limits.set': 'Setzen',
  'limits.saved': 'Gespeichert',
  'limits.bad': 'Eine Grenze ist eine Zahl in KiB/s, 0 oder mehr (leer: unbegrenzt).',
  'menu.label': 'Aktionen der Aufgabe',
  'drop': '.torrent-Dateien oder einen Magnet-Link hier ablegen',
  'token.heading': 'Dieser Server braucht sein API-Token',
  'token.placeholder': 'API-Token',
  'token.label': 'API-Token',
  'token.remember': 'Dieses Token in diesem Browser speichern',
  'dialog.cancel': 'Abbrechen',
  'dialog.connect': 'Verbinden',
  'connect.heading': 'Mit einem Magnetar verbinden',
  'connect.url': 'WebSocket-Adresse',
  'connect.token': 'Token',
  'connect.tokenPlaceholder': '(auf diesem Rechner nicht nötig)',
  'connect.recent': 'Zuletzt verwendete Server',
  'connect.forget': 'Diesen Server vergessen',
  'connect.forget.title': 'Das gespeicherte Token dieses Servers löschen und ihn aus der Liste nehmen',
  'connect.local': 'Dieser Server',
  'connect.forgot': '{server} vergessen: kein gespeichertes Token, nicht mehr in der Liste.',
  'remove.one': '„{name}“ entfernen?',
  'remove.many.one': '{count} Aufgabe entfernen?',
  'remove.many.other': '{count} Aufgaben entfernen?',
  'remove.data': 'Auch die heruntergeladenen Daten löschen',
  'remove.confirm': 'Entfernen',
  'addDialog.heading': 'Aufgabe hinzufügen',
  'addDialog.links': 'Magnet-Links oder Info-Hashes, einer pro Zeile',
  'addDialog.files': '.torrent-Dateien',
  'addDialog.paused': 'Angehalten beginnen',
  'addDialog.add': 'Hinzufügen',
  'addDialog.nothing': 'Fügen Sie einen Magnet-Link ein oder wählen Sie eine .torrent-Datei.',
  'bulk.pause': 'Halte {done} von {total} an…',
  'bulk.resume': 'Setze {done} von {total} fort…',
  'bulk.remove': 'Entferne {done} von {total}…',
  'bulk.done.pause.one': '{count} Aufgabe angehalten.',
  'bulk.done.pause.other': '{count} Aufgaben angehalten.',
  'bulk.done.resume.one': '{count} Aufgabe fortgesetzt.',
  'bulk.done.resume.other': '{count} Aufgaben fortgesetzt.',
  'bulk.done.remove.one': '{count} Aufgabe entfernt.',
  'bulk.done.remove.other': '{count} Aufgaben entfernt.',
  'bulk.failed.one': '{count} gescheitert:',
  'bulk.failed.other': '{count} gescheitert:',
  'bulk.more.one': '… und {count} weitere',
  'bulk.more.other': '… und {count} weitere',
  'added.one': '{count} Aufgabe hinzugefügt.',
  'added.other': '{count} Aufgaben hinzugefügt.',
  'error.notConnected': 'Nicht mit dem Server verbunden.',
  'error.lost': 'Die Verbindung zum Server ist verloren.',
  'error.timeout': 'Keine Antwort des Servers auf {method}.',
  'unit.B': 'B',
  'unit.KiB': 'KiB',
  'unit.MiB': 'MiB',
  'unit.GiB': 'GiB',
  'unit.TiB': 'TiB',
  'unit.PiB': 'PiB',
  'unit.perSecond': '{size}/s',
  'duration.s': '{s} s',
  'duration.ms': '{m} min {s} s',
  'duration.hm': '{h} h {m} min',
  'duration.dh': '{d} T {h} h',
  'duration.infinite': '∞',
  'none': '—',
};
/* eslint-enable quote-props */

export const STRINGS = { en, de };

let current = 'en';

/** The language code strings are shown in now. */
export function language() {
  return current;
}

/**
 * Which of our languages fits a saved choice, else the browser's list (`navigator.languages`):
 * the first whose primary subtag we have (`de-AT` is German), else English.
 */
export function pickLanguage(saved, preferred = []) {
  if (saved && STRINGS[saved]) return saved;
  for (const tag of preferred) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (STRINGS[primary]) return primary;
  }
  return 'en';
}

/** Sets the language for `t()` and format.js (no page change: see `translatePage`). */
export function useLanguage(code) {
  current = STRINGS[code] ? code : 'en';
  return current;
}

/** The page's language at load: the saved choice, else the browser's. */
export function initLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(LANGUAGE_KEY);
  } catch { /* storage may be off */ }
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  return useLanguage(pickLanguage(saved, preferred));
}

/** The user chose a language: remember it in this browser. */
export function chooseLanguage(code) {
  useLanguage(code);
  try {
    localStorage.setItem(LANGUAGE_KEY, current);
  } catch { /* storage may be off */ }
  return current;
}

/**
 * The string `key` in the current language with `{name}` replaced by `params.name`. A key missing
 * from German falls back to English, a key missing from both is shown as itself (a bug the unit
 * tests catch: they check both tables have the same keys).
 */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? en[key] ?? key;
  return fill(text, params);
}

/** `key.one` or `key.other` (by `Intl.PluralRules`) for `count`, with `{count}` formatted. */
export function plural(key, count, params = {}) {
  const rule = new Intl.PluralRules(current).select(count);
  const form = STRINGS[current][`${key}.${rule}`] !== undefined ? rule : 'other';
  return t(`${key}.${form}`, { ...params, count: new Intl.NumberFormat(current).format(count) });
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/**
 * Puts the current language's strings into the page: an element's text from `data-i18n`, and its
 * attributes from `data-i18n-title`, `data-i18n-aria-label` and `data-i18n-placeholder`.
 */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const [data, attribute] of [
    ['i18nTitle', 'title'], ['i18nAriaLabel', 'aria-label'], ['i18nPlaceholder', 'placeholder'],
  ]) {
    const selector = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const el of root.querySelectorAll(selector)) el.setAttribute(attribute, t(el.dataset[data]));
  }
}
