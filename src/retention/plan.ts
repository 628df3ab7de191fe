/**
 * What a retention policy means for this ledger now (`syslog-ledger retention --plan`): for each
 * partition, when it leaves the database (archived, then dropped) and when its archive may be
 * deleted; for each archive already made, whether it must still be kept.
 *
 * Longest wins, and the unknown is treated as present: a partition holding rows is assumed to hold
 * `default` rows, and only classes whose rules could keep it longer are looked for. Nothing is due
 * for archiving while any rule still wants its rows in the database, and nothing expires while any
 * rule, now or when it was archived, still wants it kept.
 */
import { existsSync } from 'node:fs';
import type { Queryable } from '../checkpoints/merkle-store.js';
import type { ArchiveManifest } from './format.js';
import { listPartitions, type LedgerPartition } from './partitions.js';
import { CLASS_SQL, classesToProbe, requirement, type Requirement, type RetentionPolicy, type SourceClass } from './policy.js';

export const PARTITION_ACTIONS = ['hot', 'archive', 'empty-archive', 'default'] as const;
export type PartitionAction = (typeof PARTITION_ACTIONS)[number];

export interface PartitionPlan {
  readonly partition: LedgerPartition;
  /** Whether any row is in it. */
  readonly hasRows: boolean;
  /** Classes taken as present (longest wins). */
  readonly classes: SourceClass[];
  /** Null for the DEFAULT partition (unbounded: never archived). */
  readonly requirement: Requirement | null;
  /** `archive`: due now; `hot`: stays until requirement.archiveAt; `default`: the DEFAULT partition. */
  readonly action: PartitionAction;
}

/**
 * keep: still required; expire: past its retention (archive --expire deletes it and records that);
 * deleted: deletion recorded; missing: the files are gone before their retention ended.
 */
export const ARCHIVE_ACTIONS = ['keep', 'expire', 'deleted', 'missing'] as const;
export type ArchiveAction = (typeof ARCHIVE_ACTIONS)[number];

export interface ArchivePlan {
  readonly partition: string;
  readonly path: string;
  readonly rows: number;
  readonly archivedAt: Date;
  /** The later of the expiry recorded at archive time and the current policy's. */
  readonly expiresAt: Date;
  readonly action: ArchiveAction;
}

export interface RetentionPlan {
  readonly now: Date;
  readonly policy: RetentionPolicy;
  readonly partitions: PartitionPlan[];
  readonly archives: ArchivePlan[];
}

/** Rows of the partition that belong to `cls` exist. */
async function holds(db: Queryable, partition: string, cls: Exclude<SourceClass, 'default'> | null): Promise<boolean> {
  const where = cls === null ? '' : ` WHERE ${CLASS_SQL[cls]}`;
  const r = await db.query<{ e: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(partition)}${where}) AS e`);
  return r.rows[0]?.e === true;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The plan of one partition. */
export async function planPartition(db: Queryable, policy: RetentionPolicy, p: LedgerPartition, now: Date): Promise<PartitionPlan> {
  const hasRows = await holds(db, p.name, null);
  if (p.isDefault || p.to === null) return { partition: p, hasRows, classes: [], requirement: null, action: 'default' };
  const classes: SourceClass[] = hasRows ? ['default'] : [];
  if (hasRows) {
    for (const cls of classesToProbe(policy, p.to)) if (await holds(db, p.name, cls)) classes.push(cls);
  }
  const req = requirement(policy, p.to, new Set(classes.length ? classes : ['default']));
  const due = req.archiveAt.getTime() <= now.getTime();
  return { partition: p, hasRows, classes, requirement: req, action: due ? (hasRows ? 'archive' : 'empty-archive') : 'hot' };
}

/** The whole plan: partitions oldest first (DEFAULT last), then the archives already made. */
export async function planRetention(db: Queryable, policy: RetentionPolicy, now: Date): Promise<RetentionPlan> {
  const partitions: PartitionPlan[] = [];
  for (const p of await listPartitions(db)) partitions.push(await planPartition(db, policy, p, now));
  const res = await db.query<{ partition: string; path: string; rows: string; archived_at: Date; expires_at: Date; range_to: Date; manifest: ArchiveManifest; deleted: boolean }>(
    `SELECT a.partition, a.path, a.rows, a.archived_at, a.expires_at, a.range_to, a.manifest, d.partition IS NOT NULL AS deleted
       FROM ledger_archives a LEFT JOIN ledger_archive_deletions d USING (partition) ORDER BY a.range_from`,
  );
  const archives = res.rows.map((a): ArchivePlan => {
    const present = new Set<SourceClass>(['default']);
    for (const [cls, n] of Object.entries(a.manifest.classes ?? {})) if ((n ?? 0) > 0) present.add(cls as SourceClass);
    const now_ = requirement(policy, a.range_to, present).expireAt;
    const expiresAt = new Date(Math.max(now_.getTime(), a.expires_at.getTime()));
    const expired = expiresAt.getTime() <= now.getTime();
    return {
      partition: a.partition,
      path: a.path,
      rows: Number(a.rows),
      archivedAt: a.archived_at,
      expiresAt,
      action: a.deleted ? 'deleted' : expired ? 'expire' : existsSync(a.path) ? 'keep' : 'missing',
    };
  });
  return { now, policy, partitions, archives };
}

const day = (d: Date): string => d.toISOString().slice(0, 10);

/** The plan as text (`retention --plan`). */
export function formatPlan(plan: RetentionPlan): string[] {
  const out: string[] = [`Retention plan at ${plan.now.toISOString()} for --retention ${plan.policy.spec}`, '', 'Partitions (in the database):'];
  for (const pp of plan.partitions) {
    const p = pp.partition;
    const size = `~${Math.max(0, Math.round(p.estimatedRows))} rows, ${(p.bytes / 1048576).toFixed(1)} MiB`;
    if (pp.action === 'default') {
      out.push(`  ${p.name.padEnd(18)} DEFAULT partition (${pp.hasRows ? `holds rows no dated partition covered: ${size}; they stay` : 'empty'}): never archived`);
      continue;
    }
    const req = pp.requirement!;
    const range = `${day(p.from!)}..${day(p.to!)}`;
    const why = `hot per ${req.hotRule.cls} (${req.hotRule.source}), kept per ${req.totalRule.cls} (${req.totalRule.source})`;
    const what =
      pp.action === 'archive'
        ? `ARCHIVE NOW (due since ${day(req.archiveAt)}), then drop`
        : pp.action === 'empty-archive'
          ? `drop now (empty; due since ${day(req.archiveAt)})`
          : `stays until ${day(req.archiveAt)}, then archive and drop`;
    out.push(`  ${p.name.padEnd(18)} ${range}  ${pp.hasRows ? size : 'empty'}  classes: ${pp.classes.join(',') || '-'}`);
    out.push(`  ${''.padEnd(18)} ${what}; archive kept until ${day(req.expireAt)} (${why})`);
  }
  out.push('', 'Archives (already out of the database):');
  if (plan.archives.length === 0) out.push('  none');
  for (const a of plan.archives) {
    const what =
      a.action === 'keep'
        ? `keep until ${day(a.expiresAt)}`
        : a.action === 'expire'
          ? `EXPIRED since ${day(a.expiresAt)}: may be deleted (archive --expire)`
          : a.action === 'deleted'
            ? `deleted (expired ${day(a.expiresAt)}; recorded in the ledger)`
            : `MISSING: the file is gone but required until ${day(a.expiresAt)}: put it back from your copy`;
    out.push(`  ${a.partition.padEnd(18)} ${a.rows} rows, archived ${day(a.archivedAt)}: ${what}  ${a.path}`);
  }
  const due = plan.partitions.filter((p) => p.action === 'archive' || p.action === 'empty-archive').length;
  const expired = plan.archives.filter((a) => a.action === 'expire').length;
  const missing = plan.archives.filter((a) => a.action === 'missing').length;
  out.push('', `${due} partition(s) due for archive, ${expired} archive(s) past their retention${missing ? `, ${missing} MISSING` : ''}. Nothing else leaves: every other row is still required.`);
  return out;
}

/** The plan as JSON (`retention --plan --json`). */
export function planJson(plan: RetentionPlan): unknown {
  return {
    now: plan.now.toISOString(),
    retention: plan.policy.spec,
    partitions: plan.partitions.map((pp) => ({
      name: pp.partition.name,
      from: pp.partition.from?.toISOString() ?? null,
      to: pp.partition.to?.toISOString() ?? null,
      default: pp.partition.isDefault,
      has_rows: pp.hasRows,
      estimated_rows: pp.partition.estimatedRows,
      bytes: pp.partition.bytes,
      classes: pp.classes,
      action: pp.action,
      archive_at: pp.requirement?.archiveAt.toISOString() ?? null,
      expires_at: pp.requirement?.expireAt.toISOString() ?? null,
      hot_rule: pp.requirement ? `${pp.requirement.hotRule.cls}:${pp.requirement.hotRule.source}` : null,
      total_rule: pp.requirement ? `${pp.requirement.totalRule.cls}:${pp.requirement.totalRule.source}` : null,
    })),
    archives: plan.archives.map((a) => ({ partition: a.partition, path: a.path, rows: a.rows, archived_at: a.archivedAt.toISOString(), expires_at: a.expiresAt.toISOString(), action: a.action })),
  };
}
