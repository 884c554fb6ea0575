import { EventEmitter } from 'node:events'
import type { Cid } from '@atproto/lex-data'
import type { Db } from '../db/index.js'
import { encodeMessageFrame, type EventType } from './frames.js'

// both sources: sqlite_sequence survives pruning; MAX(seq) guards a missing sqlite_sequence row
const LAST_SEQ_SQL = `SELECT MAX(s) AS seq FROM (
  SELECT seq AS s FROM sqlite_sequence WHERE name = 'repo_seq'
  UNION ALL SELECT MAX(seq) AS s FROM repo_seq
)`

/**
 * The highest seq the log has handed out, read on any connection to the database (the CLI reads
 * it beside a running server); undefined for a log that never had an event.
 */
export function lastSequencedSeq(sqlite: Pick<Db['sqlite'], 'prepare'>): number | undefined {
  return (sqlite.prepare(LAST_SEQ_SQL).get() as { seq: number | null } | undefined)?.seq ?? undefined
}

/** What a #commit event says of one op (the write path's ops carry more; only these are sent). */
export type CommitOp = {
  action: 'create' | 'update' | 'delete'
  path: string
  cid: Cid | null
  /** the previous record CID: sent for updates and deletes, never for creates */
  prev: Cid | null
}

export type CommitEvent = {
  repo: string
  commit: Cid
  rev: string
  since: string | null
  blocks: Uint8Array
  ops: readonly CommitOp[]
  prevData: Cid | null
}

export type SequencedEvent = { seq: number; did: string; type: EventType; frame: Uint8Array; time: string }

/**
 * The durable event log. `append*InTx` must run inside the repo write transaction, so a commit
 * and its firehose event land together or not at all. After COMMIT the writer calls
 * `publish()`, which pushes the new events to live subscribers (`'event'`, one per event, in
 * seq order, synchronously).
 *
 * Seqs: strictly increasing, never reused once committed. `repo_seq` is AUTOINCREMENT, so
 * `sqlite_sequence` keeps the highest seq ever committed even after the log is pruned empty;
 * a rolled-back transaction takes its seqs (and its sqlite_sequence update) with it, so the
 * next commit reuses them and subscribers never see a gap.
 */
export class Sequencer extends EventEmitter {
  private lastSeq: number
  private pending: SequencedEvent[] = []
  private insertStmt
  private emptyFramesStmt

  constructor(private db: Db) {
    super()
    this.setMaxListeners(0)
    this.lastSeq = this.readLastSeq()
    this.insertStmt = db.sqlite.prepare(
      'INSERT INTO repo_seq (seq, did, event_type, frame, sequenced_at) VALUES (?, ?, ?, ?, ?)',
    )
    this.emptyFramesStmt = db.sqlite.prepare<[string, number]>(`UPDATE repo_seq SET frame = x'' WHERE did = ? AND seq < ?`)
  }

  // at start and after a rollback only: no statement kept for it
  private readLastSeq(): number {
    return lastSequencedSeq(this.db.sqlite) ?? 0
  }

  /** The highest committed seq (0 for an empty log that never had an event). */
  currentSeq(): number {
    return this.pending.length > 0 ? this.pending[0].seq - 1 : this.lastSeq
  }

  private append(did: string, type: EventType, body: Record<string, unknown>): number {
    if (!this.db.sqlite.inTransaction) throw new Error('Sequencer.append* must run inside a write transaction')
    const seq = this.lastSeq + 1
    const time = new Date().toISOString()
    const frame = encodeMessageFrame(type, { seq, ...body, time })
    this.insertStmt.run(seq, did, type, frame, time)
    this.lastSeq = seq
    this.pending.push({ seq, did, type, frame, time })
    return seq
  }

  appendCommitInTx(evt: CommitEvent): number {
    const ops = evt.ops.map((op) => {
      const out: Record<string, unknown> = { action: op.action, path: op.path, cid: op.action === 'delete' ? null : op.cid }
      if (op.action !== 'create' && op.prev) out.prev = op.prev
      return out
    })
    const body: Record<string, unknown> = {
      repo: evt.repo,
      commit: evt.commit,
      rev: evt.rev,
      since: evt.since,
      blocks: evt.blocks,
      ops,
      blobs: [],
      rebase: false,
      tooBig: false,
    }
    if (evt.prevData) body.prevData = evt.prevData
    return this.append(evt.repo, '#commit', body)
  }

  appendSyncInTx(did: string, rev: string, blocks: Uint8Array): number {
    return this.append(did, '#sync', { did, rev, blocks })
  }

  appendIdentityInTx(did: string, handle?: string): number {
    return this.append(did, '#identity', handle ? { did, handle } : { did })
  }

  appendAccountInTx(did: string, active: boolean, status?: string): number {
    return this.append(did, '#account', status ? { did, active, status } : { did, active })
  }

  /**
   * An account was deleted: the `#account` deleted event (`seq`) is the last thing the log says
   * of it. Every earlier event of `did` keeps its row (seq, type, time) but loses its frame (its
   * blocks, records and handle): replay skips empty frames, so a consumer replaying gets none of
   * its content, and the log still loses only a prefix when pruned (what OutdatedCursor relies
   * on). The reference deletes these rows instead.
   */
  forgetAccountBeforeInTx(did: string, seq: number): void {
    if (!this.db.sqlite.inTransaction) throw new Error('Sequencer.forgetAccountBeforeInTx must run inside a write transaction')
    this.emptyFramesStmt.run(did, seq)
  }

  /**
   * A transaction (or a nested savepoint) that appended was rolled back. Re-read the highest
   * seq from the database as it now stands and forget the pending events above it: an outer
   * transaction's events survive a rolled-back inner savepoint.
   */
  rollback(): void {
    if (this.pending.length === 0) return
    this.lastSeq = this.readLastSeq()
    this.pending = this.pending.filter((e) => e.seq <= this.lastSeq)
  }

  /**
   * The transaction committed: hand its events to live subscribers. Inside an enclosing
   * transaction (a nested writeTransaction) nothing is published yet: the outer COMMIT
   * publishes everything. A throwing listener never stops delivery or fails the write.
   */
  publish(): void {
    if (this.pending.length === 0 || this.db.sqlite.inTransaction) return
    const events = this.pending
    this.pending = []
    for (const evt of events) {
      for (const listener of this.listeners('event') as ((e: SequencedEvent) => void)[]) {
        try {
          listener(evt)
        } catch (err) {
          queueMicrotask(() => this.emit('listenerError', err))
        }
      }
    }
  }
}
