/**
 * The one place the read side turns stored ledger rows into evidence lines. A version 3 row (what
 * serve writes) has its full OCSF record assembled from its columns, stored part, `raw` and its
 * connection (src/ledger/v3.ts); a version 1 or 2 row carries it whole in `event`.
 */
import { canonicalLifted, chainHash, type CanonicalRow } from '../ledger/canonical.js';
import { isoMicros } from '../ledger/copy.js';
import { recomputeHash, type StoredRow } from '../verify/reference.js';
import { v3Hash, v3ToJson } from '../ledger/v3.js';


/**
 * The canonical form version whose hash is the row's stored hash, or null when none is (the row was
 * changed: the export stops). Fast path: the stored JSON texts are the canonical bytes (migration
 * 007); rows stored before it go through the reference code.
 */
export function rowVersion(r: StoredRow): 1 | 2 | 3 | null {
  if (r.v3 !== undefined) return r.v3.conn !== null && v3Hash(r.prevHash, r.v3.values, r.v3.conn).equals(r.hash) ? 3 : null;
  const fields: CanonicalRow = {
    chain: r.chain, seq: r.seq, receivedAtUs: r.receivedAtUs, peerCn: r.peerCn, peerSans: r.peerSans, peerAddr: r.peerAddr,
    format: r.format, truncated: r.truncated, parseError: r.parseError, raw: r.raw, syslogJson: r.syslogText, eventJson: r.eventText,
  };
  const lifted = canonicalLifted(r.lifted);
  if (lifted !== null && chainHash(r.prevHash, { ...fields, lifted }).equals(r.hash)) return 2;
  if (chainHash(r.prevHash, fields).equals(r.hash)) return 1;
  try {
    const re = recomputeHash(r.prevHash, r);
    return re.hash.equals(r.hash) ? re.version : null;
  } catch {
    return null;
  }
}

/**
 * The events.jsonl line of a row (without LF). Built as text: the stored JSON texts are valid JSON
 * and go in as they are (no parse, no re-serialization per row).
 */
export function lineText(r: StoredRow, version: 1 | 2 | 3, inRange: boolean): string {
  if (r.v3 !== undefined) {
    return (
      `{"chain":${JSON.stringify(r.chain)},"seq":${r.seq},"received_at":"${isoMicros(r.receivedAtUs)}","event":${r.eventText},` +
      `"leaf":{"v":3,"prev_hash":"${r.prevHash.toString('hex')}","hash":"${r.hash.toString('hex')}","received_at_us":${r.receivedAtUs},` +
      `"peer_cn":${JSON.stringify(r.peerCn)},"peer_sans":${JSON.stringify(r.peerSans)},"peer_addr":${JSON.stringify(r.peerAddr)},` +
      `"row":${JSON.stringify(v3ToJson(r.v3.values))},"connection":${JSON.stringify(r.v3.conn)}}${inRange ? '' : ',"in_range":false'}}`
    );
  }
  const l = r.lifted;
  const columns =
    version === 2
      ? `,"columns":${JSON.stringify({
          event_time: l.event_time, hostname: l.hostname, app_name: l.app_name, class_uid: l.class_uid, activity_id: l.activity_id,
          status_id: l.status_id, severity_id: l.severity_id, user_name: l.user_name, actor_user: l.actor_user, src_ip: l.src_ip,
        })}`
      : '';
  return (
    `{"chain":${JSON.stringify(r.chain)},"seq":${r.seq},"received_at":"${isoMicros(r.receivedAtUs)}","event":${r.eventText},` +
    `"leaf":{"v":${version},"prev_hash":"${r.prevHash.toString('hex')}","hash":"${r.hash.toString('hex')}","received_at_us":${r.receivedAtUs},` +
    `"peer_cn":${JSON.stringify(r.peerCn)},"peer_sans":${JSON.stringify(r.peerSans)},"peer_addr":${JSON.stringify(r.peerAddr)},` +
    `"format":${JSON.stringify(r.format)},"truncated":${r.truncated},"parse_error":${JSON.stringify(r.parseError)},` +
    `"raw_base64":"${r.raw.toString('base64')}","syslog":${r.syslogText}${columns}}${inRange ? '' : ',"in_range":false'}}`
  );
}
