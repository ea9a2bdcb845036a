// format.js and i18n.js: numbers, sizes and dates in the UI's language, and the two string
// tables complete and of one shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as fmt from '../../ui/js/format.js';
import { STRINGS, pickLanguage, plural, t, useLanguage } from '../../ui/js/i18n.js';

test('sizes use binary units and the language decimal mark', () => {
  useLanguage('en');
  assert.equal(fmt.size(0), '0 B');
  assert.equal(fmt.size(1023), '1,023 B');
  assert.equal(fmt.size(1536), '1.50 KiB');
  assert.equal(fmt.size(1_500_000), '1.43 MiB');
  assert.equal(fmt.size(150 * 1024 * 1024), '150 MiB');
  // 1023.996 KiB does not print as "1024 KiB".
  assert.equal(fmt.size(1024 * 1024 - 4), '1.00 MiB');
  assert.equal(fmt.size(-1), '—');
  assert.equal(fmt.size(Number.NaN), '—');
  useLanguage('de');
  assert.equal(fmt.size(1536), '1,50 KiB');
  assert.equal(fmt.speed(1536), '1,50 KiB/s');
  assert.equal(fmt.percentText(1, 3), '33,3\u00a0%'); // a no-break space
  useLanguage('en');
  assert.equal(fmt.percentText(1, 3), '33.3%');
});

test('a speed of 0 is empty in rows and "0 B/s" in totals', () => {
  useLanguage('en');
  assert.equal(fmt.speed(0), '');
  assert.equal(fmt.speedOrZero(0), '0 B/s');
});

test('durations, ETA and ratio', () => {
  useLanguage('en');
  assert.equal(fmt.duration(59), '59s');
  assert.equal(fmt.duration(61), '1m 1s');
  assert.equal(fmt.duration(3 * 3600 + 120), '3h 2m');
  assert.equal(fmt.duration(Infinity), '∞');
  assert.equal(fmt.eta({ state: 1, total_bytes: 100, dl_bytes: 50, dl_speed: 10 }), '5s');
  assert.equal(fmt.eta({ state: 4, total_bytes: 100, dl_bytes: 50, dl_speed: 10 }), '');
  assert.equal(fmt.ratio({ dl_bytes: 0, ul_bytes: 5 }), '∞');
  assert.equal(fmt.ratio({ dl_bytes: 200, ul_bytes: 100 }), '0.50');
  useLanguage('de');
  assert.equal(fmt.duration(61), '1 min 1 s');
  assert.equal(fmt.ratio({ dl_bytes: 200, ul_bytes: 100 }), '0,50');
  useLanguage('en');
});

test('dates are formatted by Intl in the language', () => {
  const at = Date.UTC(2026, 11, 7, 12, 0) / 1000;
  useLanguage('de');
  assert.match(fmt.date(at), /^07\.12\.26, \d\d:\d\d$/);
  useLanguage('en');
  assert.match(fmt.date(at), /^12\/7\/26, \d{1,2}:\d\d\s?[AP]M$/);
  assert.equal(fmt.date(0), '—');
});

test('state names, and an unknown code says its number', () => {
  useLanguage('en');
  assert.equal(fmt.stateName(4), 'Paused');
  assert.equal(fmt.stateName(9), 'State 9');
  useLanguage('de');
  assert.equal(fmt.stateName(4), 'Angehalten');
  useLanguage('en');
});

test('English and German have the same keys, the same placeholders, and no empty string', () => {
  const { en, de } = STRINGS;
  assert.deepEqual(Object.keys(de).sort(), Object.keys(en).sort());
  const names = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const key of Object.keys(en)) {
    assert.ok(en[key].length && de[key].length, `${key} is empty`);
    assert.deepEqual(names(de[key]), names(en[key]), `${key} has other placeholders in German`);
  }
});

test('German differs from English wherever words are shown', () => {
  const { en, de } = STRINGS;
  // Only symbols, units, the brand and words German shares may be the same.
  const shared = new Set(['choose.failed', 'prefs.group.tls', 'prefs.dht', 'action.details', 'connect.token', 'key.esc', 'limits.unit',
    'limits.none', 'peers.down', 'peers.up', 'theme.auto', 'duration.infinite', 'none', 'unit.perSecond']);
  for (const key of Object.keys(en)) {
    if (shared.has(key) || key.startsWith('unit.')) continue;
    assert.notEqual(de[key], en[key], `${key} is not translated`);
  }
});

test('the language comes from the saved choice, then the browser, then English', () => {
  assert.equal(pickLanguage('de', ['en-US']), 'de');
  assert.equal(pickLanguage(null, ['de-AT', 'en']), 'de');
  assert.equal(pickLanguage(null, ['fr-FR', 'de']), 'de');
  assert.equal(pickLanguage(null, ['fr-FR']), 'en');
  assert.equal(pickLanguage('xx', []), 'en');
});

test('plurals and placeholders', () => {
  useLanguage('en');
  assert.equal(plural('status.tasks', 1), '1 task');
  assert.equal(plural('status.tasks', 1000), '1,000 tasks');
  assert.equal(t('connection.connected', { host: 'nas:7345' }), 'Connected to nas:7345');
  useLanguage('de');
  assert.equal(plural('status.tasks', 1000), '1.000 Aufgaben');
  assert.equal(plural('status.tasks', 1), '1 Aufgabe');
  useLanguage('en');
});

test('names from outside show their control and bidi characters as visible symbols', () => {
  assert.equal(fmt.visible('a\u001b[31mb'), 'a\u241b[31mb');
  assert.equal(fmt.visible('x\u202egnp.exe'), 'x⟨U+202E⟩gnp.exe');
  assert.equal(fmt.visible('tab\there\u007f'), 'tab\u2409here\u2421');
  assert.equal(fmt.visible('<b>bold</b> & ü 日本'), '<b>bold</b> & ü 日本');
  assert.equal(fmt.visible(undefined), '');
});

test('every string of the page is in the tables, and every string in the tables is used', async () => {
  const { readFile, readdir } = await import('node:fs/promises');
  const root = new URL('../../ui/', import.meta.url);
  const html = await readFile(new URL('index.html', root), 'utf8');
  const scripts = await Promise.all((await readdir(new URL('js/', root)))
    .filter((name) => name !== 'i18n.js')
    .map((name) => readFile(new URL(`js/${name}`, root), 'utf8')));
  const code = [html, ...scripts].join('\n');
  // Keys named in the page's data-i18n attributes exist.
  for (const [, key] of html.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)) {
    assert.ok(key in STRINGS.en, `index.html names a missing key: ${key}`);
  }
  // Every key is used: literally, or as the prefix of a key built in code (`state.${code}`,
  // plural forms, `connection.${state}`).
  for (const key of Object.keys(STRINGS.en)) {
    const stem = key.replace(/\.(one|other)$/, '');
    const prefix = key.split('.').slice(0, -1).join('.');
    const used = code.includes(`'${key}'`) || code.includes(`"${key}"`) || code.includes(`'${stem}'`)
      || (prefix && (code.includes(`\`${prefix}.\${`) || code.includes(`'${prefix}'`)))
      || code.includes(`\`${key.split('.')[0]}.\${`);
    assert.ok(used, `the string ${key} is never used`);
  }
  // No English text written into the page outside the tables: elements with text content in
  // index.html carry data-i18n (the brand and symbols aside).
  const bare = [...html.matchAll(/>([^<>{}]*[A-Za-z]{3,}[^<>]*)</g)].map((m) => m[1].trim())
    .filter((text) => text && text !== 'Magnetar');
  assert.deepEqual(bare, [], 'text in index.html without data-i18n');
});

test('preferences: fields to values and back, exactly', async () => {
  const { fromField, toField } = await import('../../ui/js/preferences.js');
  assert.equal(toField('bps', 1_500_000), '1464.84375');
  assert.equal(fromField('bps', '1464.84375'), 1_500_000);
  assert.equal(fromField('bps', ''), null);
  assert.equal(fromField('bps', '-1'), undefined);
  assert.equal(fromField('count', '2.5'), undefined);
  assert.equal(fromField('count', '60'), 60);
  assert.equal(fromField('ratio', '1.5'), 1.5);
  assert.deepEqual(fromField('paths', ' /srv/a \n\n/srv/b'), ['/srv/a', '/srv/b']);
  assert.equal(toField('paths', ['/srv/a', '/srv/b']), '/srv/a\n/srv/b');
  assert.equal(fromField('path', '  '), null);
  assert.equal(toField('path', null), '');
});
