import type { Db } from '../db/index.js'

/** Rows written per staging transaction while a CAR streams in or the tree is walked... */
const BATCH_ROWS = 512
/** ...or fewer, once the blocks waiting hold this many bytes (blocks may be up to 2 MiB each). */
const BATCH_BYTES = 4 * 1024 * 1024
/** Rows deleted per statement when an import's staging is cleared (between them the event loop runs). */
const CLEAR_ROWS = 4096

let lastImportId = 0

/** A record the walk found: where, its CID, how many blobs it references. */
export type StagedLeaf = { collection: string; rkey: string; cid: string; blobs: number }

/**
 * The staging tables of repo imports (migration 007): one import's blocks as they arrived, then
 * the MST nodes and records its tree reaches. Writes are batched into short transactions of
 * their own; nothing here touches a repository. `copyInTx` is what the import's one transaction
 * takes from here.
 */
export class ImportStaging {
  readonly id: number
  private pendingBlocks: [string, Uint8Array][] = []
  private pendingBytes = 0
  private pendingNodes: string[] = []
  private pendingLeaves: [string, string, string, number][] = []
  private stmts

  constructor(private db: Db) {
    // unique in this process; start-up clears what an earlier process left
    this.id = lastImportId = Math.max(lastImportId + 1, Date.now())
    const s = db.sqlite
    this.stmts = {
      putBlock: s.prepare<[number, string, Uint8Array]>('INSERT OR IGNORE INTO import_block (import_id, cid, content) VALUES (?, ?, ?)'),
      getBlock: s.prepare<[number, string], Buffer>('SELECT content FROM import_block WHERE import_id = ? AND cid = ?').pluck(),
      putNode: s.prepare<[number, string]>('INSERT OR IGNORE INTO import_node (import_id, cid) VALUES (?, ?)'),
      putLeaf: s.prepare<[number, string, string, string, number]>(
        'INSERT INTO import_leaf (import_id, collection, rkey, cid, blobs) VALUES (?, ?, ?, ?, ?)',
      ),
      leafPage: s.prepare<[number, string, string, number], StagedLeaf>(
        `SELECT collection, rkey, cid, blobs FROM import_leaf
         WHERE import_id = ? AND (collection, rkey) > (?, ?) ORDER BY collection, rkey LIMIT ?`,
      ),
      // import_block in CID order, so that repo_block's keys go in in order too (random-order
      // inserts into a B-tree bigger than the page cache were most of the copy's time)
      copyBlocks: s.prepare<{ id: number; did: string; rev: string }>(
        `INSERT OR IGNORE INTO repo_block (did, cid, rev, size, content)
         SELECT @did, b.cid, @rev, length(b.content), b.content FROM import_block b
         WHERE b.import_id = @id AND (
           EXISTS (SELECT 1 FROM import_node n WHERE n.import_id = @id AND n.cid = b.cid) OR
           EXISTS (SELECT 1 FROM import_leaf l WHERE l.import_id = @id AND l.cid = b.cid))
         ORDER BY b.cid`,
      ),
      copyRecords: s.prepare<{ id: number; did: string; rev: string; now: string }>(
        `INSERT INTO record (did, collection, rkey, cid, rev, indexed_at)
         SELECT @did, collection, rkey, cid, @rev, @now FROM import_leaf WHERE import_id = @id`,
      ),
      clear: [
        'DELETE FROM import_block WHERE import_id = @id AND cid IN (SELECT cid FROM import_block WHERE import_id = @id LIMIT @n)',
        'DELETE FROM import_node WHERE import_id = @id AND cid IN (SELECT cid FROM import_node WHERE import_id = @id LIMIT @n)',
        `DELETE FROM import_leaf WHERE import_id = @id AND (collection, rkey) IN
           (SELECT collection, rkey FROM import_leaf WHERE import_id = @id LIMIT @n)`,
      ].map((sql) => s.prepare<{ id: number; n: number }>(sql)),
    }
  }

  /** Every staging row of every import: for start-up, when no import can be running. */
  static clearAll(db: Db): void {
    for (const table of ['import_block', 'import_node', 'import_leaf']) db.sqlite.exec(`DELETE FROM ${table}`)
  }

  addBlock(cid: string, bytes: Uint8Array): void {
    this.pendingBlocks.push([cid, bytes])
    this.pendingBytes += bytes.length
    if (this.pendingBlocks.length >= BATCH_ROWS || this.pendingBytes >= BATCH_BYTES) this.flush()
  }

  addNode(cid: string): void {
    this.pendingNodes.push(cid)
    if (this.pendingNodes.length >= BATCH_ROWS) this.flush()
  }

  /** Leaves come in key order from the tree walk; a key twice is refused by the primary key. */
  addLeaf(collection: string, rkey: string, cid: string, blobs: number): void {
    this.pendingLeaves.push([collection, rkey, cid, blobs])
    if (this.pendingLeaves.length >= BATCH_ROWS) this.flush()
  }

  /** Writes what is pending, in one short transaction. */
  flush(): void {
    if (this.pendingBlocks.length + this.pendingNodes.length + this.pendingLeaves.length === 0) return
    const { id, stmts } = this
    this.db.sqlite.transaction(() => {
      for (const [cid, bytes] of this.pendingBlocks) stmts.putBlock.run(id, cid, bytes)
      for (const cid of this.pendingNodes) stmts.putNode.run(id, cid)
      for (const [collection, rkey, cid, blobs] of this.pendingLeaves) stmts.putLeaf.run(id, collection, rkey, cid, blobs)
    })()
    this.pendingBlocks = []
    this.pendingBytes = 0
    this.pendingNodes = []
    this.pendingLeaves = []
  }

  /** A staged block's bytes (flush first), or undefined. */
  block(cid: string): Uint8Array | undefined {
    const content = this.stmts.getBlock.get(this.id, cid)
    return content ? new Uint8Array(content.buffer, content.byteOffset, content.byteLength) : undefined
  }

  /** Up to `limit` records in key order after (`afterCollection`, `afterRkey`). */
  leafPage(afterCollection: string, afterRkey: string, limit: number): StagedLeaf[] {
    return this.stmts.leafPage.all(this.id, afterCollection, afterRkey, limit)
  }

  /**
   * Inside the import's write transaction: every block the tree reaches (its nodes and records;
   * blocks the CAR carried beside them are left out) into repo_block with `rev`, and a record row
   * per leaf.
   */
  copyInTx(did: string, rev: string, now: string): void {
    this.stmts.copyBlocks.run({ id: this.id, did, rev })
    this.stmts.copyRecords.run({ id: this.id, did, rev, now })
  }

  /** Removes this import's rows a slice at a time, letting the event loop run in between. */
  async clear(): Promise<void> {
    this.pendingBlocks = []
    this.pendingBytes = 0
    this.pendingNodes = []
    this.pendingLeaves = []
    for (const stmt of this.stmts.clear) {
      while (stmt.run({ id: this.id, n: CLEAR_ROWS }).changes > 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }
}
