// Browser notifications when a download completes or fails, for web UI users who are not at the
// desktop. Permission is asked only when the user clicks "Notify me", never on load; the choice
// is remembered in this browser. A notification is shown only while the page is not looked at
// (another tab, another window): in front of the user the row says it already.

import { visible } from './format.js';
import { t } from './i18n.js';

const NOTIFY_KEY = 'magnetar.notify';

/** Whether a state change is worth a notification: a download that completed or failed. */
export function worthNotifying(from, to) {
  if (from === 1 && (to === 2 || to === 3)) return 'done';
  if ((from === 0 || from === 1) && to === 5) return 'failed';
  return null;
}

export class Notifier extends EventTarget {
  constructor() {
    super();
    this.enabled = localStorage.getItem(NOTIFY_KEY) === 'on'
      && globalThis.Notification?.permission === 'granted';
  }

  /** "Notify me" clicked: asks for permission (a user gesture), or turns them off. */
  async toggle() {
    if (this.enabled) {
      this.set(false);
      return null;
    }
    if (!globalThis.Notification) return t('notify.unsupported');
    const permission = Notification.permission === 'granted'
      ? 'granted' : await Notification.requestPermission();
    if (permission !== 'granted') return t('notify.denied');
    this.set(true);
    return null;
  }

  set(on) {
    this.enabled = on;
    localStorage.setItem(NOTIFY_KEY, on ? 'on' : 'off');
    this.dispatchEvent(new Event('change'));
  }

  /** A task changed state: tells the user if it completed or failed and they are away. */
  transition({ from, to }, task) {
    const kind = worthNotifying(from, to);
    if (!kind || !this.enabled || (!document.hidden && document.hasFocus())) return;
    const name = visible(task?.name ?? '');
    const body = task?.error && kind === 'failed' ? `${name}\n${visible(task.error)}` : name;
    try {
      // The tag collapses repeats for one task into one notification.
      const note = new Notification(t(`notify.${kind}.title`), { body, tag: `magnetar-${task?.id}` });
      note.onclick = () => {
        window.focus();
        this.dispatchEvent(new CustomEvent('open', { detail: task?.id }));
        note.close();
      };
    } catch {
      /* a browser that only notifies from a service worker: nothing to do */
    }
  }
}
