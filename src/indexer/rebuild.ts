import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { BlockTable } from '../repo/block-store.js'
import { RecordStore } from '../repo/record-store.js'
import { RootStore } from '../repo/root-store.js'
import type { CommitHook, RecordValue } from '../repo/types.js'

// The indexer room's query tables are derived data: a commit hook keeps them in step with the
// repos, and a rebuild makes them again from the repos alone, with the same rows.

/** A record as the repo stores it. */
export type StoredRecord = { did: string; collection: string; rkey: string; cid: string; value: RecordValue }

/** Query tables kept by a commit hook and rebuildable from the records of some collections. */
export type DerivedIndex = {
  readonly name: string
  readonly collections: readonly string[]
  readonly hook: CommitHook
  /** inside the rebuild's transaction, first: remove every row */
  clearInTx(): void
  /** inside the rebuild's transaction, or a takedown's lift: index one stored record of one of `collections` */
  addInTx(record: StoredRecord): void
  /** inside a takedown's transaction: the record's rows go (nothing when it has none) */
  removeInTx(did: string, collection: string, rkey: string): void
  /** inside the rebuild's transaction, last: e.g. record that the tables are current */
  rebuiltInTx?(): void
}

const PAGE = 500

/**
 * Rebuilds `indexes` from every repository, in one transaction: a crash or an error leaves the
 * tables as they were. Returns how many records each index was given.
 */
export function rebuildIndexes(db: Db, indexes: readonly DerivedIndex[]): Record<string, number> {
  const roots = new RootStore(db)
  const records = new RecordStore(db)
  const blocks = new BlockTable(db)
  const counts: Record<string, number> = Object.fromEntries(indexes.map((i) => [i.name, 0]))
  const collections = [...new Set(indexes.flatMap((i) => i.collections))]
  db.sqlite.transaction(() => {
    for (const index of indexes) index.clearInTx()
    for (let repos = roots.list(PAGE); repos.length > 0; repos = roots.list(PAGE, repos.at(-1)!.did)) {
      for (const { did } of repos) {
        for (const collection of collections) {
          const takers = indexes.filter((i) => i.collections.includes(collection))
          for (let rows = records.list(did, collection, { limit: PAGE, reverse: true }); rows.length > 0; ) {
            for (const row of rows) {
              const bytes = blocks.get(did, row.cid)
              if (!bytes) throw new Error(`record block ${row.cid} of at://${did}/${collection}/${row.rkey} is missing`)
              const record = { did, collection, rkey: row.rkey, cid: row.cid, value: cborDecode(bytes) as RecordValue }
              for (const index of takers) {
                index.addInTx(record)
                counts[index.name]!++
              }
            }
            rows = records.list(did, collection, { limit: PAGE, cursor: rows.at(-1)!.rkey, reverse: true })
          }
        }
      }
    }
    for (const index of indexes) index.rebuiltInTx?.()
  })()
  return counts
}

/**
 * The one-row table (id = 1, version) in which an index records the version of the code that
 * built its tables. A version that differs from the code's, or none (after the index's
 * migration), means the tables are out of date.
 */
export class IndexVersionRow {
  private readonly getStmt
  private readonly setStmt
  private readonly forgetStmt

  constructor(
    db: Db,
    table: 'library_index_state' | 'update_index_state',
    private readonly version: number,
  ) {
    const s = db.sqlite
    this.getStmt = s.prepare<[], { version: number }>(`SELECT version FROM ${table} WHERE id = 1`)
    this.setStmt = s.prepare(`INSERT OR REPLACE INTO ${table} (id, version) VALUES (1, ?)`)
    this.forgetStmt = s.prepare(`DELETE FROM ${table}`)
  }

  /** Whether the tables were built by this version of the code and kept since. */
  isCurrent(): boolean {
    return this.getStmt.get()?.version === this.version
  }

  /** Inside the rebuild's transaction: the tables are now this version's. */
  markCurrent(): void {
    this.setStmt.run(this.version)
  }

  /** The tables are no longer kept: the next start rebuilds them. */
  markOutOfDate(): void {
    this.forgetStmt.run()
  }
}

/**
 * At start-up: rebuilds `index` when `isCurrent()` says its tables are out of date. A rebuild
 * that fails (a repo with a missing block) is logged and leaves the tables as they were and out
 * of date, so the next start tries again: the server still starts, as hosting the repos does not
 * depend on them. The index's `what` names it in the log ('library index').
 */
export function rebuildIfOutOfDate(db: Db, index: DerivedIndex & { isCurrent(): boolean; what: string }, logger?: Logger): void {
  if (index.isCurrent()) return
  const started = performance.now()
  try {
    const counts = rebuildIndexes(db, [index])
    logger?.info({ records: counts[index.name], ms: Math.round(performance.now() - started) }, `${index.what} rebuilt`)
  } catch (err) {
    logger?.error({ err: { message: (err as Error).message } }, `${index.what} rebuild failed; run npm run reindex`)
  }
}
