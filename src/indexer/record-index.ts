import { InternalServerError, InvalidRequestError } from '@atproto/xrpc-server'
import type { Logger } from '../logger.js'
import { cidToString } from '../repo/cid.js'
import type { CommitHook, CommitResult, RecordOp, RecordValue } from '../repo/types.js'
import type { DerivedIndex, IndexVersionRow, StoredRecord } from './rebuild.js'

/** A record that breaks an index's rules: the field (`isbn13`, `artifacts/0/size`...) and why. */
export type RuleViolation = { path: string; problem: string }

/** A plain object, as the rules look into a record's fields. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** One collection an index keeps: its rules, what a record becomes, and its rows. */
export type IndexedCollection<E> = {
  collection: string
  /** what the write path refuses beyond the lexicon (400 InvalidRecord naming the field) */
  violation(rkey: string, record: RecordValue): RuleViolation | undefined
  /** the record's entry; null: nothing is indexed for it. `validated`: the lexicon check is done */
  entry(did: string, rkey: string, cid: string, record: RecordValue, opts: { validated: boolean }): E | null
  /** inside a transaction */
  add(entry: E): void
  /** inside a transaction; nothing when the record is not indexed */
  remove(did: string, rkey: string): void
}

/** Whether the host took a record's path down (it is then kept out of every index). */
export type IsTakenDown = (did: string, collection: string, rkey: string) => boolean

/**
 * Query tables derived from the records of some collections, changed inside each commit's
 * transaction by a commit hook, never by a later pass:
 * - `check` (before the transaction) refuses records that break the collection's rules (400
 *   InvalidRecord naming the field) and works out each record's entry, so that the transaction
 *   only writes rows;
 * - `inTx` removes the rows of updated and deleted records and adds the new ones; a failure fails
 *   the commit (500, nothing written);
 * - `deleteRepoInTx` removes a DID's rows.
 * A record whose path the host took down is not indexed (searches, counts and update offers
 * leave it out); taking a path down or lifting that changes the rows in the same transaction
 * (`removeInTx`, `addInTx`), and a rebuild skips it.
 */
export class RecordIndex implements DerivedIndex {
  readonly collections: readonly string[]
  readonly hook: CommitHook
  private readonly kinds: Map<string, IndexedCollection<unknown>>
  private readonly entries = new WeakMap<RecordOp, unknown>()
  /** 'library index': how the log and failures name it */
  readonly what: string

  constructor(
    readonly name: string,
    kinds: readonly IndexedCollection<any>[],
    private readonly opts: {
      what: string
      isTakenDown: IsTakenDown
      /** removes every row of a DID, inside a transaction */
      removeRepo(did: string): void
      /** removes every row, inside the rebuild's transaction */
      clear(): void
      /** the version of the code that built the tables */
      version: IndexVersionRow
      /** false: the hook does nothing (the tables are then marked out of date) */
      enabled?: boolean
      logger?: Logger
    },
  ) {
    this.what = opts.what
    this.kinds = new Map(kinds.map((k) => [k.collection, k]))
    this.collections = kinds.map((k) => k.collection)
    this.hook =
      opts.enabled === false
        ? {}
        : {
            check: (did, ops) => this.check(did, ops),
            inTx: (commit) => this.apply(commit),
            deleteRepoInTx: (did) => opts.removeRepo(did),
          }
  }

  get enabled(): boolean {
    return this.opts.enabled !== false
  }

  private entryOf(kind: IndexedCollection<unknown>, did: string, op: RecordOp): unknown {
    return kind.entry(did, op.rkey, cidToString(op.cid!), op.record!, { validated: op.validated === true })
  }

  private check(did: string, ops: readonly RecordOp[]): void {
    for (const op of ops) {
      const kind = this.kinds.get(op.collection)
      if (!kind || op.record === null) continue
      const violation = kind.violation(op.rkey, op.record)
      if (violation) {
        throw new InvalidRequestError(`Invalid ${op.collection} record: Record/${violation.path} ${violation.problem}`, 'InvalidRecord')
      }
      this.entries.set(op, this.entryOf(kind, did, op))
    }
  }

  private apply(commit: CommitResult): void {
    for (const op of commit.ops) {
      const kind = this.kinds.get(op.collection)
      if (!kind) continue
      try {
        if (op.prev !== null) kind.remove(commit.did, op.rkey)
        if (op.record === null || this.opts.isTakenDown(commit.did, op.collection, op.rkey)) continue
        const entry = this.entries.has(op) ? this.entries.get(op) : this.entryOf(kind, commit.did, op)
        if (entry) kind.add(entry)
      } catch (err) {
        this.opts.logger?.error({ uri: op.uri, err: { message: (err as Error)?.message } }, `${this.what} change failed`)
        throw new InternalServerError(`The ${this.what} could not be changed for ${op.uri}, so nothing was written`)
      }
    }
  }

  clearInTx(): void {
    this.opts.clear()
  }

  addInTx(record: StoredRecord): void {
    const kind = this.kinds.get(record.collection)
    if (!kind || this.opts.isTakenDown(record.did, record.collection, record.rkey)) return
    const entry = kind.entry(record.did, record.rkey, record.cid, record.value, { validated: false })
    if (entry) kind.add(entry)
  }

  removeInTx(did: string, collection: string, rkey: string): void {
    this.kinds.get(collection)?.remove(did, rkey)
  }

  rebuiltInTx(): void {
    this.opts.version.markCurrent()
  }

  /** Whether the tables were built by this version of the code and kept since. */
  isCurrent(): boolean {
    return this.opts.version.isCurrent()
  }

  /** The tables are no longer kept (the hook is off): the next start with it on rebuilds them. */
  markOutOfDate(): void {
    this.opts.version.markOutOfDate()
  }
}
