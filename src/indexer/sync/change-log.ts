import type { Db } from '../../db/index.js'
import { cidToString } from '../../repo/cid.js'
import type { RecordStore } from '../../repo/record-store.js'
import type { CommitResult } from '../../repo/types.js'

/** A place in the feed: a commit's rev and an op's position in that commit. */
export type FeedPosition = { rev: string; idx: number }

/** After every op of the commit `rev`. */
export const LAST_IDX = Number.MAX_SAFE_INTEGER

export function isBefore(a: FeedPosition, b: FeedPosition): boolean {
  return a.rev < b.rev || (a.rev === b.rev && a.idx < b.idx)
}

/** The latest op on one record path. `cid` null: the record was deleted (a tombstone). */
export type ChangeRow = { collection: string; rkey: string; rev: string; idx: number; cid: string | null; created_rev: string }

/** Tombstones removed per commit, so that one commit never carries a long delete. */
const PRUNE_BATCH = 500
/** A repo's tombstones are looked at on its commits at most this often (or every retention, if shorter). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000
/** Repos whose last pruning time is remembered; past this the memory starts again (they are pruned once more). */
const MAX_PRUNE_TIMES = 10_000
/** Records read at once when the feed takes over a repo it has not seen (backfill). */
const BACKFILL_PAGE = 1000

/**
 * The changes feed's table (`sync_change`, see migrations/006_sync_state.ts): one row per record
 * path holding its latest op, kept in the commit's transaction, and the per-repo floor after
 * which the table holds every change.
 */
export class ChangeLog {
  private floorStmt
  private insertFloorStmt
  private raiseFloorStmt
  private putCreateStmt
  private putOtherStmt
  private pruneStmt
  private pageStmt
  private pageInStmt
  private latestRevStmt
  private deleteDidStmt
  private deleteFloorStmt
  /** when each repo's tombstones were last pruned (ms) */
  private prunedAt = new Map<string, number>()
  private pruneIntervalMs: number

  constructor(
    db: Db,
    private records: RecordStore,
    /** tombstones older than this are pruned on their repo's commits */
    private retentionMs: number,
  ) {
    this.pruneIntervalMs = Math.min(retentionMs, PRUNE_INTERVAL_MS)
    const s = db.sqlite
    this.floorStmt = s.prepare<[string], { rev: string }>('SELECT rev FROM sync_change_floor WHERE did = ?')
    this.insertFloorStmt = s.prepare('INSERT INTO sync_change_floor (did, rev) VALUES (?, ?)')
    this.raiseFloorStmt = s.prepare('UPDATE sync_change_floor SET rev = max(rev, ?) WHERE did = ?')
    const insert = `INSERT INTO sync_change (did, collection, rkey, rev, idx, cid, created_rev, changed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (did, collection, rkey) DO UPDATE SET rev = excluded.rev, idx = excluded.idx, cid = excluded.cid,
        changed_at = excluded.changed_at`
    // a create starts the record's life again (it may follow a delete); updates and deletes keep it
    this.putCreateStmt = s.prepare<[string, string, string, string, number, string | null, string, number]>(
      `${insert}, created_rev = excluded.created_rev`,
    )
    this.putOtherStmt = s.prepare<[string, string, string, string, number, string | null, string, number]>(insert)
    this.pruneStmt = s
      .prepare<[string, string, number, number], string>(
        `DELETE FROM sync_change WHERE did = ? AND (collection, rkey) IN (
           SELECT collection, rkey FROM sync_change WHERE did = ? AND cid IS NULL AND changed_at <= ? ORDER BY changed_at LIMIT ?
         ) RETURNING rev`,
      )
      .pluck()
    const page = (filter: string) =>
      s.prepare<unknown[], ChangeRow>(
        `SELECT collection, rkey, rev, idx, cid, created_rev FROM sync_change
         WHERE did = @did AND (rev, idx) > (@rev, @idx) ${filter}
         ORDER BY rev, idx LIMIT @limit`,
      )
    this.pageStmt = page('')
    this.pageInStmt = page('AND collection IN (SELECT value FROM json_each(@collections))')
    this.latestRevStmt = s
      .prepare<[string, string], string | null>(
        `SELECT rev FROM sync_change WHERE did = ? AND collection IN (SELECT value FROM json_each(?)) ORDER BY rev DESC, idx DESC LIMIT 1`,
      )
      .pluck()
    this.deleteDidStmt = s.prepare('DELETE FROM sync_change WHERE did = ?')
    this.deleteFloorStmt = s.prepare('DELETE FROM sync_change_floor WHERE did = ?')
  }

  /** The rev after which the log holds every change of the repo; undefined: it has not seen the repo. */
  floor(did: string): string | undefined {
    return this.floorStmt.get(did)?.rev
  }

  /** The rev of the repo's latest op on a record of `collections` that the log holds, if any. */
  latestRev(did: string, collections: readonly string[]): string | undefined {
    return this.latestRevStmt.get(did, JSON.stringify(collections)) ?? undefined
  }

  /** Up to `limit` latest ops after `after`, in feed order, optionally only of some collections. */
  page(did: string, after: FeedPosition, limit: number, collections?: readonly string[]): ChangeRow[] {
    const args = { did, rev: after.rev, idx: after.idx, limit }
    if (collections && collections.length > 0) return this.pageInStmt.all({ ...args, collections: JSON.stringify(collections) })
    return this.pageStmt.all(args)
  }

  /** Inside the commit's transaction, after the record rows were written. */
  applyCommitInTx(commit: CommitResult, now: number): void {
    const { did } = commit
    if (this.floor(did) === undefined) {
      this.backfillInTx(did, commit.rev, now)
      this.insertFloorStmt.run(did, commit.since ?? '')
    } else if (now - (this.prunedAt.get(did) ?? -Infinity) >= this.pruneIntervalMs) {
      // looked at now and then, not on every commit: the probe was a third of the hook's time
      this.pruneInTx(did, now - this.retentionMs)
      if (this.prunedAt.size >= MAX_PRUNE_TIMES) this.prunedAt.clear()
      this.prunedAt.set(did, now)
    }
    const { rev, ops } = commit
    for (let idx = 0; idx < ops.length; idx++) {
      const op = ops[idx]!
      // positional parameters: named ones cost about twice as much per statement here
      const stmt = op.action === 'create' ? this.putCreateStmt : this.putOtherStmt
      stmt.run(did, op.collection, op.rkey, rev, idx, op.cid ? cidToString(op.cid) : null, rev, now)
    }
  }

  /**
   * The log takes over a repo it holds no rows for (a new account's first commit, or a repo
   * whose rows were removed and that was filled again): every record older than this commit,
   * as created at its own rev. The floor then starts at the commit's `since`.
   */
  private backfillInTx(did: string, rev: string, now: number): void {
    const nextIdx = new Map<string, number>()
    for (const collection of this.records.collections(did)) {
      let cursor: string | undefined
      for (;;) {
        const rows = this.records.list(did, collection, { limit: BACKFILL_PAGE, cursor, reverse: true })
        for (const r of rows) {
          if (r.rev >= rev) continue // written by this commit: its op follows
          const idx = nextIdx.get(r.rev) ?? 0
          nextIdx.set(r.rev, idx + 1)
          this.putCreateStmt.run(did, collection, r.rkey, r.rev, idx, r.cid, r.rev, now)
        }
        if (rows.length < BACKFILL_PAGE) break
        cursor = rows[rows.length - 1]!.rkey
      }
    }
  }

  /** Removes the repo's tombstones from before `cutoff` (oldest first, a batch) and raises its floor past them. */
  private pruneInTx(did: string, cutoff: number): void {
    const revs = this.pruneStmt.all(did, did, cutoff, PRUNE_BATCH)
    if (revs.length === 0) return
    let highest = revs[0]!
    for (const rev of revs) if (rev > highest) highest = rev
    this.raiseFloorStmt.run(highest, did)
  }

  /** Inside the transaction that removes a repo: its rows and floor. */
  deleteRepoInTx(did: string): void {
    this.deleteDidStmt.run(did)
    this.deleteFloorStmt.run(did)
    this.prunedAt.delete(did)
  }
}
