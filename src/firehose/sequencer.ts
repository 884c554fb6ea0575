import { EventEmitter } from 'node:events'
import type { Cid } from '@atproto/lex-data'
import type { Db } from '../db/index.js'
import { encodeMessageFrame, type EventType } from './frames.js'

export type CommitOp = {
  action: 'create' | 'update' | 'delete'
  path: string
  cid: Cid | null
  prev?: Cid
}

export type CommitEvent = {
  repo: string
  commit: Cid
  rev: string
  since: string | null
  blocks: Uint8Array
  ops: CommitOp[]
  prevData: Cid | null
}

export type SequencedEvent = { seq: number; did: string; type: EventType; frame: Uint8Array; time: string }

/**
 * The durable event log. `append*InTx` must run inside the repo write transaction, so a commit
 * and its firehose event land together or not at all. After COMMIT the writer calls
 * `publish()`, which pushes the new events to live subscribers.
 */
export class Sequencer extends EventEmitter {
  private lastSeq: number
  private pending: SequencedEvent[] = []
  private insertStmt

  constructor(private db: Db) {
    super()
    this.setMaxListeners(0)
    const row = db.sqlite
      .prepare<[], { seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'`)
      .get()
    this.lastSeq = row?.seq ?? 0
    this.insertStmt = db.sqlite.prepare(
      'INSERT INTO repo_seq (seq, did, event_type, frame, sequenced_at) VALUES (?, ?, ?, ?, ?)',
    )
  }

  currentSeq(): number {
    return this.lastSeq
  }

  private append(did: string, type: EventType, body: Record<string, unknown>): number {
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
      const out: Record<string, unknown> = { action: op.action, path: op.path, cid: op.cid }
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

  /** The transaction that appended was rolled back: forget its events and its seqs. */
  rollback(): void {
    if (this.pending.length > 0) {
      this.lastSeq = this.pending[0].seq - 1
      this.pending = []
    }
  }

  /** The transaction committed: hand its events to live subscribers. */
  publish(): void {
    if (this.pending.length === 0) return
    const events = this.pending
    this.pending = []
    for (const evt of events) this.emit('event', evt)
  }
}
