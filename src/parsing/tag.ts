/**
 * Splitting an RFC 3164 §4.1.3 TAG given as text (JSON frames carry rsyslog's `syslogtag`):
 * `sshd[77]:` -> app `sshd`, procid `77`; `app-audit:` -> app `app-audit`;
 * `sshd(pam_unix)[123]:` -> app `sshd(pam_unix)`, procid `123`.
 */
export interface SplitTag {
  readonly app: string | null;
  readonly procid: string | null;
}

const MAX_APP = 255;
const MAX_PROCID = 128;

export function splitTag(tag: string): SplitTag {
  let t = tag.trim();
  if (t.endsWith(':')) t = t.slice(0, -1);
  let app = t;
  let procid: string | null = null;
  if (t.endsWith(']')) {
    const open = t.lastIndexOf('[');
    if (open > 0 && t.length - 1 - (open + 1) <= MAX_PROCID) {
      app = t.slice(0, open);
      const p = t.slice(open + 1, -1);
      procid = p === '' ? null : p;
    }
  }
  if (app === '' || app.length > MAX_APP) return { app: null, procid };
  return { app, procid };
}
