import type { Db } from '../db/index.js'

export type LogRow = { seq: number; frame: Uint8Array }

/**
 * Reads and prunes the durable event log (`repo_seq`). Every query is a short synchronous
 * statement on the main connection: no iterator is ever held open across an await.
 */
export class EventLog {
  private pageStmt
  private oldestStmt
  private prunableStmt
  private deleteStmt

  constructor(private db: Db) {
    this.pageStmt = db.sqlite.prepare<[number, number], LogRow>(
      'SELECT seq, frame FROM repo_seq WHERE seq > ? ORDER BY seq LIMIT ?',
    )
    this.oldestStmt = db.sqlite.prepare<[], { seq: number | null }>('SELECT MIN(seq) AS seq FROM repo_seq')
    this.prunableStmt = db.sqlite.prepare<[string], { seq: number | null }>(
      'SELECT MAX(seq) AS seq FROM repo_seq WHERE sequenced_at < ?',
    )
    this.deleteStmt = db.sqlite.prepare<[number]>('DELETE FROM repo_seq WHERE seq <= ?')
  }

  /** Up to `limit` events with seq > `after`, in seq order. */
  page(after: number, limit: number): LogRow[] {
    return this.pageStmt.all(after, limit)
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
