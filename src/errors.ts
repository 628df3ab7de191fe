/**
 * Every error the product raises on purpose. Each carries what an operator needs to act
 * (the option, the peer, the chain and seq) and says whether the stream can go on.
 */

/** Base class: `canContinue` tells the caller whether the stream or process can go on. */
export abstract class LedgerError extends Error {
  abstract readonly canContinue: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error after which the stream or command cannot go on. */
abstract class StopError extends LedgerError {
  readonly canContinue = false;
}

/** Something is wrong with one file; the message starts with its path. */
abstract class FileError extends StopError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** A bad configuration value: the program stops with a message naming the option. */
export class ConfigError extends StopError {
  constructor(
    readonly option: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${option}: ${message}`, options);
  }
}

/** A usage error on the command line (unknown command, missing argument). */
export class UsageError extends StopError {}

/** Another process already writes this chain; one writer per chain is enforced by the database. */
export class ChainLockedError extends StopError {
  constructor(readonly chain: string) {
    super(`chain "${chain}" is already being written by another syslog-ledger process (advisory lock held)`);
  }
}

/** The chain head in the database is not what this writer committed last: someone else wrote the chain. */
export class ChainDivergedError extends StopError {
  constructor(
    readonly chain: string,
    readonly expectedSeq: bigint,
    readonly foundSeq: bigint,
  ) {
    super(`chain "${chain}" diverged: expected head seq ${expectedSeq}, database has ${foundSeq}`);
  }
}

/**
 * Another writer took this chain (its epoch moved past the one this writer took): this writer's
 * batch was rolled back, and it appends nothing more.
 */
export class ChainFencedError extends StopError {
  constructor(
    readonly chain: string,
    readonly ourEpoch: bigint,
    readonly foundEpoch: bigint,
  ) {
    super(`chain "${chain}" was taken by another writer (epoch ${foundEpoch}, this writer holds ${ourEpoch}): batch rolled back, this writer appends nothing more`);
  }
}

/**
 * The writer stopped (a fatal error, such as a diverged chain) with received events it never
 * committed: they are lost, and whoever closes it must say how many.
 */
export class EventsNotCommittedError extends StopError {
  constructor(
    readonly count: number,
    cause: Error | undefined,
  ) {
    super(`${count} received event(s) were not committed${cause ? `: the writer stopped (${cause.message})` : ''}`, { cause });
  }
}

/** A database operation failed or timed out; the writer retries it. */
export class DatabaseError extends LedgerError {
  readonly canContinue = true;
}

/** A record was handed to the writer after it closed: it would sit in a queue nobody writes. */
export class WriterClosedError extends StopError {
  constructor(readonly chain: string) {
    super('writer is closed');
  }
}

/** A migration could not be applied, or one already applied was changed. */
export class MigrationError extends StopError {}

/**
 * Data read back is not in the form the ledger writes: a COPY stream, an archive row, a stored
 * field, a PEM file, an evidence package. The reader stops; nothing is guessed.
 */
export class MalformedDataError extends StopError {}

/**
 * A chain's head or its signed checkpoint does not check out where a command needs it to (before
 * appending a retention or access record): run `syslog-ledger verify`.
 */
export class ChainIntegrityError extends StopError {
  constructor(
    readonly chain: string,
    message: string,
  ) {
    super(message);
  }
}

/** A key file could not be created as asked (it appeared meanwhile, another process made it). */
export class KeyFileError extends FileError {}

/** Code used out of order (a method before its init, a worker module run on the main thread): a bug. */
export class InternalError extends StopError {}

/** Something is wrong at one row of one chain. */
abstract class RowError extends StopError {
  constructor(
    readonly chain: string,
    readonly seq: number,
    message: string,
  ) {
    super(message);
  }
}

/** A ledger row is missing or out of order where the Merkle tree needs it. */
export class MissingLeavesError extends RowError {}

/** The ledger no longer matches the last checkpoint in the external file: refuse to sign over it. */
export class CheckpointMismatchError extends RowError {}

/** Thrown by parseCheckpoint for a line that is not a valid v1 checkpoint. */
export class CheckpointFormatError extends StopError {
  constructor(
    message: string,
    readonly chain: string | null = null,
    readonly seq: number | null = null,
  ) {
    super(message);
  }
}

/** Verify's fast path met input it does not handle; the caller uses the reference code (src/verify/reference.ts). */
export class NotCanonicalizable extends LedgerError {
  readonly canContinue = true;
}

/** `syslog-ledger prove` (and the console's proof download) cannot produce the proof asked for. */
export class ProveFailure extends StopError {}

/** Verification could not be carried out at all (exit 2), as opposed to finding tampering (exit 1). */
export class VerifyError extends StopError {}

/** Reading a certificate, key, CA or CRL failed. */
export class TlsConfigError extends FileError {}

/** One-line description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (isNoLedgerError(err)) return `this database has no ledger; run \`syslog-ledger migrate\` (${err.message})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The ledger's tables, whose absence means the database was never migrated. */
const LEDGER_TABLES = ['ledger_meta', 'ledger', 'chains', 'checkpoints', 'merkle_nodes'] as const;

/** PostgreSQL's undefined_table (42P01) on one of the ledger's tables: a database that is not a ledger. */
export function isNoLedgerError(err: unknown): err is Error {
  if (!(err instanceof Error) || (err as { code?: unknown }).code !== '42P01') return false;
  const m = /relation "(?:[^"]*\.)?([^".]+)" does not exist/.exec(err.message);
  return m !== null && (LEDGER_TABLES as readonly string[]).includes(m[1]!);
}

/** A console request that could not be answered (src/console/); the message is safe to show: no ledger data. */
export class ConsoleError extends LedgerError {
  readonly canContinue = true;
  constructor(
    message: string,
    readonly status = 500,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
