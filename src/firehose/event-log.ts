import type { Db } from '../db/index.js'

export type LogRow = { seq: number; frame: Uint8Array }

/** Events read at once; `end` = the log holds nothing after the last of them (when it was read). */
export type LogPage = { rows: LogRow[]; end: boolean }

/**
 * Reads and prunes the durable event log (`repo_seq`). Every query is a short synchronous
 * statement on the main connection: no iterator is ever held open across an await.
 */
export class EventLog {
  private sizesStmt
  private rangeStmt
  private oldestStmt
  private prunableStmt
  private deleteStmt

  constructor(private db: Db) {
    this.sizesStmt = db.sqlite
      .prepare<[number, number], [number, number]>('SELECT seq, length(frame) FROM repo_seq WHERE seq > ? ORDER BY seq LIMIT ?')
      .raw(true)
    this.rangeStmt = db.sqlite.prepare<[number, number], LogRow>(
      'SELECT seq, frame FROM repo_seq WHERE seq > ? AND seq <= ? ORDER BY seq',
    )
    this.oldestStmt = db.sqlite.prepare<[], { seq: number | null }>('SELECT MIN(seq) AS seq FROM repo_seq')
    this.prunableStmt = db.sqlite.prepare<[string], { seq: number | null }>(
      'SELECT MAX(seq) AS seq FROM repo_seq WHERE sequenced_at < ?',
    )
    this.deleteStmt = db.sqlite.prepare<[number]>('DELETE FROM repo_seq WHERE seq <= ?')
  }

  /**
   * Events with seq > `after`, in seq order: up to `limit` of them, and no more frame bytes than
   * `maxBytes` (a first frame bigger than that comes alone). Sizes are read first (`length()`
   * does not read a blob), so a page of 2 MB commits loads what the budget allows, not `limit`
   * of them. Both statements run in one synchronous step: no commit lands in between.
   */
  page(after: number, limit: number, maxBytes: number): LogPage {
    const sizes = this.sizesStmt.all(after, limit + 1)
    let n = 0
    let bytes = 0
    while (n < sizes.length && n < limit && (n === 0 || bytes + sizes[n]![1] <= maxBytes)) bytes += sizes[n++]![1]
    if (n === 0) return { rows: [], end: true }
    return { rows: this.rangeStmt.all(after, sizes[n - 1]![0]), end: n === sizes.length }
  }

  /** The oldest retained seq, or undefined when the log is empty. */
  oldestSeq(): number | undefined {
    return this.oldestStmt.get()?.seq ?? undefined
  }

  /**
   * Deletes every event sequenced before `cutoff`, and every event before those (the log only
   * ever loses a prefix, so "oldest retained seq" describes the whole gap). Runs in batches of
   * short transactions so writers are never held up for long. Returns the number deleted.
   */
  async prune(cutoff: Date, batch = 5000): Promise<number> {
    const upTo = this.prunableStmt.get(cutoff.toISOString())?.seq
    if (upTo == null) return 0
    let deleted = 0
    for (;;) {
      if (!this.db.sqlite.open) return deleted
      const oldest = this.oldestSeq()
      if (oldest === undefined || oldest > upTo) return deleted
      deleted += this.deleteStmt.run(Math.min(upTo, oldest + batch - 1)).changes
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}
