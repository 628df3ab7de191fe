/**
 * `syslog-ledger parse`: a dry run with no database. Frames on stdin (one per line, or an
 * octet-counted/LF byte stream with --octet-counted), and per frame one JSON line on stdout: the
 * record exactly as `serve` would store it, without the chain fields. Frames that fail to parse are
 * data, not errors: exit 0.
 */
import { bool, helpText, int, oneOf, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { Framer, type Frame } from '../framing/framer.js';
import { isoMicros } from '../ledger/copy.js';
import type { PeerIdentity } from '../listener/identity.js';
import { nowMicros } from '../listener/server.js';
import { toRecord } from '../stages.js';
import { Metrics } from '../metrics/registry.js';
import { FORMAT_OPTIONS } from '../parsing/types.js';
import { ConfigError } from '../errors.js';

export const PARSE_OPTIONS = {
  'octet-counted': { type: 'boolean', help: 'stdin is a syslog byte stream (octet-counted or LF frames, detected per frame)' },
  format: { type: 'string', default: 'auto', arg: FORMAT_OPTIONS.join('|'), help: 'force a format' },
  'time-zone': { type: 'string', default: 'UTC', arg: 'TZ', help: 'zone of RFC 3164 timestamps' },
  'peer-cn': { type: 'string', arg: 'CN', help: 'pretend the frames came from this certificate CN' },
  'max-frame-size': { type: 'string', default: '64KiB', arg: 'BYTES', help: 'longer frames are cut and flagged' },
  'received-at': { type: 'string', arg: 'RFC3339', help: 'receive time to use (default: now); RFC 3164 year inference depends on it' },
} as const satisfies OptionSpecs;

/** Splits on LF only: in line mode a leading number is never a length. */
class LineSplitter {
  #rest: Buffer = Buffer.alloc(0);
  constructor(readonly max: number) {}
  push(chunk: Buffer): Frame[] {
    const buf = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    const out: Frame[] = [];
    let start = 0;
    for (let lf = buf.indexOf(10, start); lf !== -1; lf = buf.indexOf(10, start)) {
      out.push(this.#frame(buf.subarray(start, lf)));
      start = lf + 1;
    }
    this.#rest = Buffer.from(buf.subarray(start));
    return out;
  }
  end(): Frame[] {
    return this.#rest.length ? [this.#frame(this.#rest)] : [];
  }
  #frame(line: Buffer): Frame {
    const truncated = line.length > this.max;
    const raw = Buffer.from(truncated ? line.subarray(0, this.max) : line);
    const body = raw.length && raw[raw.length - 1] === 13 ? raw.subarray(0, raw.length - 1) : raw;
    return { raw, body, truncated, framing: 'lf' };
  }
}

export async function parseCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, PARSE_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger parse [options] < frames', 'Dry run: what serve would store for each frame, as JSON lines. No database.', PARSE_OPTIONS));
    return 0;
  }
  const cfg = { format: oneOf(values, 'format', FORMAT_OPTIONS), timeZone: requireStr(values, 'time-zone') };
  const max = int(values, 'max-frame-size', 1);
  const receivedAt = str(values, 'received-at');
  const fixedUs = receivedAt ? Date.parse(receivedAt) * 1000 : undefined;
  if (fixedUs !== undefined && Number.isNaN(fixedUs)) throw new ConfigError('--received-at', `not a timestamp: "${receivedAt}"`);
  const cn = str(values, 'peer-cn') ?? null;
  const peer: PeerIdentity = { cn, sans: [], subject: cn ? `CN=${cn}` : '', fingerprint: '', address: 'stdin' };
  const metrics = new Metrics({ defaultMetrics: false });
  const splitter = bool(values, 'octet-counted') ? new Framer({ maxFrameBytes: max }) : new LineSplitter(max);

  const emit = (frames: Frame[]): void => {
    let out = '';
    for (const frame of frames) {
      const us = fixedUs ?? nowMicros();
      const r = toRecord(frame, peer, us, cfg, metrics);
      const text = frame.raw.toString('utf8');
      const validUtf8 = Buffer.from(text, 'utf8').equals(frame.raw);
      out += `${JSON.stringify({
        format: r.format,
        received_at: isoMicros(us),
        ...(validUtf8 ? { raw: text } : { raw_base64: frame.raw.toString('base64') }),
        truncated: r.truncated,
        parse_error: r.parseError,
        syslog: r.syslog,
        event: r.event,
        columns: r.columns,
      })}\n`;
    }
    if (out) process.stdout.write(out);
  };
  for await (const chunk of process.stdin) emit(splitter.push(chunk as Buffer));
  emit(splitter.end());
  return 0;
}
