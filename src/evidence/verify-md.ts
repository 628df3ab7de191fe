/** VERIFY.md of a package: how to check it without syslog-ledger (every algorithm is public). */
import { FILES, MANIFEST_SIGNED_HEADER, type ManifestBody } from './format.js';

export function verifyMd(m: ManifestBody): string {
  const complete = m.mode === 'complete';
  return `# Verifying this evidence package

Ledger \`${m.ledger_id}\`, exported ${m.created_at} by \`${m.exported_by.os_user}\` on \`${m.exported_by.host}\`
(database user \`${m.exported_by.db_user}\`)${m.exported_by.reason ? `, reason: ${m.exported_by.reason}` : ''}.

Query: \`${m.query.predicate}\` (times by ${m.query.by === 'event' ? "the event's own time, `event_time`" : 'receive time, `received_at`'}, UTC).
**${m.counts.matching} ledger rows matched** the query in the export's snapshot; \`${FILES.events}\` has ${m.counts.lines} lines in ${m.counts.runs} run(s).

${
  complete
    ? `**This is a complete export.** No filter but time${m.query.chain !== null ? ' and chain' : ''}: for each chain, every seq from the
first to the last matching row is in \`${FILES.events}\`, in one run, proven against a signed checkpoint.
Rows of that span whose time lies outside the range (senders' clocks are not ordered) are included
and marked \`"in_range": false\`; nothing between the first and last matching row was left out.`
    : `**This is a filtered export.** It holds the rows matching the predicate above and nothing else; the
count is signed in the manifest. Each contiguous run of seqs is proven to be in the ledger,
unchanged; what the predicate excluded is not in the package, so it proves nothing about other rows.`
}

With syslog-ledger: \`syslog-ledger verify-evidence DIR --public-key ledger-signing.key.pub\`
(exit 0 intact and signed by that key, 1 something changed, 2 cannot check). The public key must
come from the ledger's operator, not from this package; its SHA-256 fingerprint (of the raw 32-byte
Ed25519 key) is \`${m.key.fingerprint_sha256}\` (in \`${FILES.fingerprint}\`).

## By hand

1. **Manifest.** \`${FILES.manifest}\` without its \`signature\` member, serialized as RFC 8785 canonical
   JSON (members sorted by UTF-16 code units, no whitespace), prefixed by the line
   \`${MANIFEST_SIGNED_HEADER}\` and one LF: \`signature.sig\` is the base64 Ed25519 (RFC 8032, pure)
   signature of those bytes. \`signature.key_id\` is the first 16 bytes of the fingerprint, hex.
2. **Files.** Each file in \`files\` has the SHA-256 and size listed.
3. **Checkpoints.** Each line of \`${FILES.checkpoints}\` is a signed chain head: the signature is over the
   nine-line text of docs/integrity.md "The signed bytes" (\`syslog-ledger checkpoint v1\`, then
   \`ledger_id\`, \`chain\`, \`seq\`, \`tree_size\`, \`head_hash\`, \`merkle_root\`, \`time\`, \`key_id\`, one per line).
   Each line of \`${FILES.consistency}\` is an RFC 9162 §2.1.4 consistency proof from a checkpoint used
   to the newest checkpoint of its chain in the package.
4. **Events.** Each line of \`${FILES.events}\` is one ledger row: \`chain\`, \`seq\`, \`received_at\`, the
   OCSF record \`event\`, and \`leaf\`. Its hash is SHA-256(prev_hash || canonical bytes), the canonical
   bytes of docs/ledger-format.md (version \`leaf.v\`): magic \`SLR2\` (or \`SLR1\`), chain, seq,
   received_at_us, peer_cn, peer_sans, peer_addr, format, truncated, parse_error, the raw bytes
   (\`leaf.raw_base64\`), canonical JSON of \`leaf.syslog\`, canonical JSON of \`event\`, then for version 2
   the lifted columns of \`leaf.columns\`. It must equal \`leaf.hash\`, and \`leaf.prev_hash\` must be the
   previous line's \`leaf.hash\` within a run.
5. **Runs.** Each line of \`${FILES.proofs}\` covers the lines of one chain from \`first_seq\` to \`last_seq\`,
   in order, none missing. Start an RFC 9162 Merkle tree from \`left\` (the roots of the complete
   subtrees of the first \`first_seq - 1\` leaves, largest first), append SHA-256(0x00 || leaf.hash)
   for each line, and take the root of the \`last_seq\` leaves (fold the subtree roots right to left
   with SHA-256(0x01 || left || right)). \`consistency\` must prove that tree a prefix of the signed
   checkpoint of \`tree_size\` leaves in \`${FILES.checkpoints}\`.

\`${FILES.csv}\` is the same rows flattened for a spreadsheet (RFC 4180); it is covered by its digest
only: check facts against \`${FILES.events}\`.
`;
}
