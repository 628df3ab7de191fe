/**
 * Per-peer limits. Over a limit a peer is slowed by backpressure (its socket stops being read),
 * never dropped: an audit server must not lose a well-authenticated peer's events.
 */

/** Token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    readonly rate: number,
    readonly burst: number,
    now = Date.now(),
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes `n` tokens (possibly going into debt); returns ms to wait before reading again (0: go on). */
  take(n: number, now = Date.now()): number {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.rate) * 1000);
  }
}

/** `CN_PATTERN=HOST_PATTERN[,HOST_PATTERN...]` entries: which syslog HOSTNAMEs a certificate may claim. */
export interface HostBinding {
  readonly peer: RegExp;
  readonly hosts: readonly RegExp[];
}

function wildcard(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

export function parseHostBindings(entries: readonly string[], onError: (entry: string) => never): HostBinding[] {
  return entries.map((e) => {
    const i = e.indexOf('=');
    if (i <= 0 || i === e.length - 1) onError(e);
    return { peer: wildcard(e.slice(0, i)), hosts: e.slice(i + 1).split(',').map((h) => wildcard(h.trim())) };
  });
}

/**
 * Is `hostname` one this peer may claim? A peer no binding names may claim any.
 */
export function hostnameAllowed(bindings: readonly HostBinding[], peerNames: readonly string[], hostname: string | null): boolean {
  if (bindings.length === 0 || hostname === null) return true;
  const applicable = bindings.filter((b) => peerNames.some((n) => b.peer.test(n)));
  if (applicable.length === 0) return true;
  return applicable.some((b) => b.hosts.some((h) => h.test(hostname)));
}
