/**
 * Bulk export over application data-access records (API Activity 6003, the seed's `log_data_access`):
 *   bulk_export  one record whose `metadata.record_count` is above `max_records`, every time
 *   bulk_reads   >= `reads` read operations (activity 2 Read) by one user within `window`
 */
import type { BulkExportConfig } from '../config.js';
import { recordCount, textAt, type Observed } from '../event.js';
import { human, type RuleContext, type RuleModule } from '../rule.js';
import { Lru, SlidingWindow } from '../state.js';

export function bulkExport(cfg: BulkExportConfig, maxKeys: number, maxRefs: number): RuleModule {
  const reads = new Lru<string, SlidingWindow>(maxKeys);
  return {
    name: 'bulk_export',
    classes: [6003],
    size: () => reads.size,
    observe(o: Observed, ctx: RuleContext): void {
      if (o.status === 2) return;
      const who = o.actor ?? o.user;
      const resource = textAt((o.event.resources as unknown[] | undefined)?.[0], 'name');
      const n = recordCount(o.event);
      if (n !== null && n > cfg.maxRecords) {
        ctx.fire(
          {
            rule: 'bulk_export',
            key: `${who ?? '?'}:${o.ref.chain}:${o.ref.seq}`,
            title: 'Bulk data export',
            message: `user "${who ?? '?'}" accessed ${n} records${resource ? ` of ${resource}` : ''} in one operation (threshold ${cfg.maxRecords})`,
            severityId: 3,
            time: o.t,
            firstTime: o.t,
            host: o.host,
            refs: [o.ref],
            count: n,
            actor: who,
            ip: o.ip,
            details: { threshold: cfg.maxRecords, record_count: n, ...(resource ? { resource } : {}), operation: textAt(o.event, 'api', 'operation') },
          },
          0,
        );
      }
      if (o.activity !== 2 || who === null) return;
      const w = reads.upsert(who, () => new SlidingWindow(cfg.windowMs, Math.max(64, cfg.reads * 2)));
      w.add(o);
      if (w.total >= cfg.reads && !ctx.cooling('bulk_reads', who, o.t, cfg.cooldownMs)) {
        ctx.fire(
          {
            rule: 'bulk_reads',
            key: who,
            title: 'Many reads by one user',
            message: `user "${who}" made ${w.total} read operations within ${human(cfg.windowMs)} (threshold ${cfg.reads})`,
            severityId: 3,
            time: o.t,
            firstTime: w.first ?? o.t,
            host: o.host,
            refs: w.refs(maxRefs),
            count: w.total,
            actor: who,
            ip: o.ip,
            details: { threshold: cfg.reads, window_ms: cfg.windowMs },
          },
          cfg.cooldownMs,
        );
      }
    },
  };
}
