/**
 * IP addresses as canonical form v2 hashes the `src_ip` column (docs/ledger-format.md): the bytes
 * `[4 or 6, prefix length, address bytes]`, the same whether they come from the writer's text, from
 * `abbrev(src_ip)` text (the reference code, archives) or from PostgreSQL's binary inet (verify's
 * COPY): no text form of an IPv6 address has to match PostgreSQL's printing.
 */

/** `[4|6, prefix bits, 4 or 16 address bytes]` of `addr[/bits]`, or null when it is not an IPv4/IPv6 address. */
export function inetBytes(text: string): Buffer | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = addr.includes(':') ? ipv6(addr) : ipv4(addr);
  if (bytes === null) return null;
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return null;
    bits = Number(b);
  }
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out[0] = bytes.length === 4 ? 4 : 6;
  out[1] = bits;
  out.set(bytes, 2);
  return out;
}

/** Dotted-quad IPv4 (1-3 digits a part, each at most 255), without split or regex: the common case. */
function ipv4(s: string): number[] | null {
  const out: number[] = [];
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || v > 255 || out.length === 4) return null;
      out.push(v);
      v = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      v = v * 10 + (c - 0x30);
      digits++;
    } else return null;
  }
  return out.length === 4 ? out : null;
}

function ipv6(s: string): number[] | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as string;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = ipv4(p);
        if (v4 === null) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  // A dotted quad only at the very end (the last two groups).
  if (halves.length === 2 && (halves[0] as string).includes('.')) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * Text PostgreSQL's inet input reads back to exactly `b` (inetBytes form): dotted IPv4, IPv6 in
 * RFC 5952 form, `/bits` only when not a single host's.
 */
export function inetText(b: Uint8Array): string {
  const v4 = b[0] === 4;
  const addr = b.subarray(2);
  let s: string;
  if (v4) s = `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  else {
    const g: number[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((addr[i] as number) << 8) | (addr[i + 1] as number));
    // The longest run of two or more zero groups (the first of equals) becomes '::'.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) [best, bestLen] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
    s = best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
  }
  return b[1] === addr.length * 8 ? s : `${s}/${b[1]}`;
}

/**
 * PostgreSQL's binary inet at b[at, at + len) (family 2 IPv4 / 3 IPv6, prefix bits, is_cidr, address
 * length, address) written to o[w] in inetBytes form; returns the end, or -1 when it is not an inet.
 */
export function pgInetInto(b: Uint8Array, at: number, len: number, o: Uint8Array, w: number): number {
  const fam = b[at];
  const nb = b[at + 3] as number;
  if (len !== 4 + nb || b[at + 2] !== 0 || !((fam === 2 && nb === 4) || (fam === 3 && nb === 16))) return -1;
  o[w] = fam === 2 ? 4 : 6;
  o[w + 1] = b[at + 1] as number;
  for (let k = 0; k < nb; k++) o[w + 2 + k] = b[at + 4 + k] as number;
  return w + 2 + nb;
}

/** pgInetInto() as a new buffer; null when it is not an inet. */
export function pgInetBytes(b: Uint8Array, at: number, len: number): Buffer | null {
  const out = Buffer.allocUnsafe(18);
  const end = pgInetInto(b, at, len, out, 0);
  return end < 0 ? null : out.subarray(0, end);
}
