import type { Lexicons } from '@atproto/lexicon'
import { InternalServerError, InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import { cidToString } from '../../repo/cid.js'
import type { CommitHook, CommitResult, RecordOp } from '../../repo/types.js'
import { IndexVersionRow, rebuildIfOutOfDate, type DerivedIndex, type StoredRecord } from '../rebuild.js'
import { installEntry, releaseEntry, type InstallEntry, type ReleaseEntry } from './update-entry.js'
import { INSTALL_COLLECTION, installRuleViolation, RELEASE_COLLECTION, releaseRuleViolation } from './update-rules.js'
import { UpdateTables } from './update-tables.js'

/**
 * The version of what the tables keep of a record. When it differs from the one recorded in
 * update_index_state (or none is, as after migration 008), the server rebuilds the tables at
 * start-up. Raise it whenever update-entry.ts or the tables would index a record differently.
 */
export const UPDATES_INDEX_VERSION = 1

/**
 * Query tables for app.carrel.update.release and .install records, changed inside each commit's
 * transaction by a commit hook:
 * - `check` (before the transaction) refuses records that break update-rules.ts (400
 *   InvalidRecord naming the field) and works out each record's entry;
 * - `inTx` removes the rows of updated and deleted records and adds the new ones; a failure fails
 *   the commit (500, nothing written);
 * - `deleteRepoInTx` removes a DID's rows.
 */
export class UpdatesIndex implements DerivedIndex {
  readonly name = 'updates'
  readonly collections = [RELEASE_COLLECTION, INSTALL_COLLECTION]
  readonly hook: CommitHook
  private readonly tables: UpdateTables
  private readonly entries = new WeakMap<RecordOp, ReleaseEntry | InstallEntry | null>()
  private readonly version: IndexVersionRow

  constructor(private readonly opts: { db: Db; lexicons: Lexicons; logger?: Logger }) {
    this.tables = new UpdateTables(opts.db)
    this.version = new IndexVersionRow(opts.db, 'update_index_state', UPDATES_INDEX_VERSION)
    this.hook = {
      check: (did, ops) => this.check(did, ops),
      inTx: (commit) => this.apply(commit),
      deleteRepoInTx: (did) => this.tables.removeRepo(did),
    }
  }

  private entryOf(did: string, op: RecordOp): ReleaseEntry | InstallEntry | null {
    const cid = cidToString(op.cid!)
    // a record the write path has just validated is not validated again
    const opts = { validated: op.validated === true }
    return op.collection === RELEASE_COLLECTION
      ? releaseEntry(this.opts.lexicons, did, op.rkey, cid, op.record!, opts)
      : installEntry(this.opts.lexicons, did, op.rkey, cid, op.record!, opts)
  }

  private check(did: string, ops: readonly RecordOp[]): void {
    for (const op of ops) {
      if (op.record === null || !this.collections.includes(op.collection)) continue
      const violation =
        op.collection === RELEASE_COLLECTION ? releaseRuleViolation(op.rkey, op.record) : installRuleViolation(op.record)
      if (violation) {
        throw new InvalidRequestError(`Invalid ${op.collection} record: Record/${violation.path} ${violation.problem}`, 'InvalidRecord')
      }
      this.entries.set(op, this.entryOf(did, op))
    }
  }

  private apply(commit: CommitResult): void {
    for (const op of commit.ops) {
      if (!this.collections.includes(op.collection)) continue
      const release = op.collection === RELEASE_COLLECTION
      try {
        if (op.prev !== null) {
          if (release) this.tables.removeRelease(commit.did, op.rkey)
          else this.tables.removeInstall(commit.did, op.rkey)
        }
        if (op.record === null) continue
        const entry = this.entries.has(op) ? this.entries.get(op)! : this.entryOf(commit.did, op)
        if (entry && release) this.tables.addRelease(entry as ReleaseEntry)
        else if (entry) this.tables.addInstall(entry as InstallEntry)
      } catch (err) {
        this.opts.logger?.error({ uri: op.uri, err: { message: (err as Error)?.message } }, 'update index change failed')
        throw new InternalServerError(`The update index could not be changed for ${op.uri}, so nothing was written`)
      }
    }
  }

  clearInTx(): void {
    this.tables.clear()
  }

  addInTx(record: StoredRecord): void {
    if (record.collection === RELEASE_COLLECTION) {
      const entry = releaseEntry(this.opts.lexicons, record.did, record.rkey, record.cid, record.value)
      if (entry) this.tables.addRelease(entry)
    } else {
      const entry = installEntry(this.opts.lexicons, record.did, record.rkey, record.cid, record.value)
      if (entry) this.tables.addInstall(entry)
    }
  }

  rebuiltInTx(): void {
    this.version.markCurrent()
  }

  /** Whether the tables were built by this version of the code and kept since. */
  isCurrent(): boolean {
    return this.version.isCurrent()
  }
}

/**
 * The update index for the server, rebuilt first when it is out of date (a database from before
 * migration 008, or a raised version). A rebuild that fails is logged and leaves the tables as
 * they were and out of date, so that the next start tries again.
 */
export function openUpdatesIndex(opts: { db: Db; lexicons: Lexicons; logger?: Logger }): UpdatesIndex {
  const index = new UpdatesIndex(opts)
  rebuildIfOutOfDate(opts.db, index, 'update index', opts.logger)
  return index
}
