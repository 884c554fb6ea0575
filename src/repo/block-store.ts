import { BlockMap, ReadableBlockstore } from '@atproto/repo'
import type { Cid } from '@atproto/lex-data'
import type { Db, SqliteDb } from '../db/index.js'
import { cidToString } from './cid.js'

/**
 * `bytes` in an ArrayBuffer of its own. The CBOR encoder returns views into 8 KB chunks for
 * anything over ~256 bytes: keeping such a view keeps the whole chunk (measured: 84 MB held for
 * 17 MB of cached blocks), so anything kept for long is copied out first.
 */
export function compact(bytes: Uint8Array): Uint8Array {
  // new Uint8Array(view) copies; Buffer#slice would only make another view
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
}

/**
 * What one cached block costs besides its bytes: the CID string key, the Uint8Array and
 * ArrayBuffer objects, the backing store and the map entry (measured from a heap snapshot).
 * Records are often ~100 bytes, so without counting this the cache held 4x its budget.
 */
const ENTRY_OVERHEAD_BYTES = 256

/** Block bytes by CID string, bounded by total memory; content-addressed, so shared by all repos. */
export class BlockCache {
  private map = new Map<string, Uint8Array>()
  private bytes = 0
  constructor(private maxBytes: number) {}

  get(cid: string): Uint8Array | undefined {
    const v = this.map.get(cid)
    if (v) {
      // refresh recency
      this.map.delete(cid)
      this.map.set(cid, v)
    }
    return v
  }

  delete(cid: string): void {
    const bytes = this.map.get(cid)
    if (bytes) {
      this.bytes -= bytes.length + ENTRY_OVERHEAD_BYTES
      this.map.delete(cid)
    }
  }

  set(cid: string, bytes: Uint8Array): void {
    if (this.map.has(cid)) return
    bytes = compact(bytes)
    this.map.set(cid, bytes)
    this.bytes += bytes.length + ENTRY_OVERHEAD_BYTES
    while (this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next()
      if (oldest.done) break
      this.bytes -= this.map.get(oldest.value)!.length + ENTRY_OVERHEAD_BYTES
      this.map.delete(oldest.value)
    }
  }
}

/** The repo_block table: SQL for one repository's blocks. */
export class BlockTable {
  private getStmt
  private hasStmt
  private insertStmt
  private deleteStmt
  private cidsOfRepoStmt
  private deleteRepoStmt
  private countStmt

  constructor(db: Db) {
    this.getStmt = db.sqlite.prepare<[string, string], { content: Buffer }>(
      'SELECT content FROM repo_block WHERE did = ? AND cid = ?',
    )
    // the row's content is not read for this (SQLite reads only what a query needs)
    this.hasStmt = db.sqlite.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM repo_block WHERE did = ? AND cid = ?')
    this.insertStmt = db.sqlite.prepare(
      'INSERT OR IGNORE INTO repo_block (did, cid, rev, size, content) VALUES (?, ?, ?, ?, ?)',
    )
    this.deleteStmt = db.sqlite.prepare('DELETE FROM repo_block WHERE did = ? AND cid = ?')
    this.cidsOfRepoStmt = db.sqlite.prepare<[string], string>('SELECT cid FROM repo_block WHERE did = ?').pluck()
    this.deleteRepoStmt = db.sqlite.prepare<[string]>('DELETE FROM repo_block WHERE did = ?')
    this.countStmt = db.sqlite.prepare<[string], number>('SELECT count(*) FROM repo_block WHERE did = ?').pluck()
  }

  count(did: string): number {
    return this.countStmt.get(did) ?? 0
  }

  /** inside a write transaction: every block of the repo; returns their CIDs */
  deleteRepo(did: string): string[] {
    const cids = this.cidsOfRepoStmt.all(did)
    this.deleteRepoStmt.run(did)
    return cids
  }

  get(did: string, cid: string): Uint8Array | undefined {
    const row = this.getStmt.get(did, cid)
    return row ? new Uint8Array(row.content.buffer, row.content.byteOffset, row.content.byteLength) : undefined
  }

  has(did: string, cid: string): boolean {
    return this.hasStmt.get(did, cid) !== undefined
  }

  /** inside a write transaction */
  putMany(did: string, rev: string, blocks: Iterable<[string, Uint8Array]>): void {
    for (const [cid, bytes] of blocks) this.insertStmt.run(did, cid, rev, bytes.length, bytes)
  }

  /** inside a write transaction */
  delete(did: string, cid: string): void {
    this.deleteStmt.run(did, cid)
  }
}

/** @atproto/repo's read interface over one DID's blocks, through the shared cache. */
export class SqliteBlockstore extends ReadableBlockstore {
  constructor(
    private did: string,
    private table: BlockTable,
    private cache: BlockCache,
  ) {
    super()
  }

  getBytesSync(cid: Cid | string): Uint8Array | null {
    const key = typeof cid === 'string' ? cid : cidToString(cid)
    const cached = this.cache.get(key)
    if (cached) return cached
    const bytes = this.table.get(this.did, key)
    if (!bytes) return null
    this.cache.set(key, bytes)
    return bytes
  }

  async getBytes(cid: Cid): Promise<Uint8Array | null> {
    return this.getBytesSync(cid)
  }

  async has(cid: Cid): Promise<boolean> {
    return this.getBytesSync(cid) !== null
  }

  async getBlocks(cids: Cid[]): Promise<{ blocks: BlockMap; missing: Cid[] }> {
    const blocks = new BlockMap()
    const missing: Cid[] = []
    for (const cid of cids) {
      const bytes = this.getBytesSync(cid)
      if (bytes) blocks.set(cid, bytes)
      else missing.push(cid)
    }
    return { blocks, missing }
  }
}

/**
 * Blocks of one page of an export: `cids[i]` has `sizes[i]` bytes. Blocks of at most
 * SMALL_BLOCK bytes come concatenated in `small`, in page order; bigger ones are left out and
 * read one at a time with {@link SnapshotBlockReader.block}, so a page of PAGE_ROWS rows holds at
 * most PAGE_ROWS * SMALL_BLOCK bytes (4 MB) whatever the records (≤ 1 MB each).
 */
export type BlockPage = { cids: string[]; sizes: number[]; small: Buffer; lastKey: string }

export const SMALL_BLOCK = 4096

type PageRow = [string | null, string | null, Buffer | null, number, string | null]

/** The SELECT of a PageRow over the (cid, content) rows of the FROM that follows; `lastKey`: the page's last key. */
const pageColumns = (lastKey: string) =>
  `SELECT group_concat(cid, ','), group_concat(length(content), ','),
          CAST(group_concat(CASE WHEN length(content) <= ${SMALL_BLOCK} THEN content ELSE x'' END, '') AS BLOB),
          count(*), ${lastKey}`

/**
 * The SQL of snapshot reads (CAR export, record proofs), prepared on a given read connection.
 * A page comes back as one row: a Buffer and two strings instead of a Buffer and a string per
 * block (per-value allocation dominated the export otherwise). The aggregates consume the same
 * rows in the same pass, so they stay aligned.
 */
export class SnapshotBlockReader {
  private rootStmt
  private blockStmt
  private pageAllStmt
  private pageSinceStmt
  private pageReusedStmt

  constructor(conn: SqliteDb) {
    this.rootStmt = conn.prepare<[string], { cid: string; rev: string; data_cid: string }>(
      'SELECT cid, rev, data_cid FROM repo_root WHERE did = ?',
    )
    this.blockStmt = conn.prepare<[string, string], { content: Buffer }>('SELECT content FROM repo_block WHERE did = ? AND cid = ?')
    this.pageAllStmt = conn
      .prepare<[string, string, number], PageRow>(
        `${pageColumns('max(cid)')}
         FROM (SELECT cid, content FROM repo_block WHERE did = ? AND cid > ? ORDER BY cid LIMIT ?)`,
      )
      .raw(true)
    // the last key is max(rev || ' ' || cid): revs are TIDs, all 13 characters, so this orders
    // exactly like (rev, cid)
    this.pageSinceStmt = conn
      .prepare<[string, string, string, number], PageRow>(
        `${pageColumns("max(rev || ' ' || cid)")}
         FROM (SELECT cid, content, rev FROM repo_block WHERE did = ? AND (rev, cid) > (?, ?) ORDER BY rev, cid LIMIT ?)`,
      )
      .raw(true)
    // blocks of records created or updated after `since` whose bytes the repo already held at
    // an earlier rev (a block keeps the rev that first wrote it), so pageSince leaves them out.
    // The record rows of the repo are scanned (`+cid` keeps the planner on the primary key,
    // where `rev` is); only the matches are looked up in repo_block.
    this.pageReusedStmt = conn
      .prepare<{ did: string; since: string; after: string; rows: number }, PageRow>(
        `${pageColumns('max(cid)')}
         FROM (SELECT b.cid AS cid, b.content AS content FROM repo_block b
               WHERE b.did = @did AND b.rev <= @since
                 AND b.cid IN (SELECT cid FROM record WHERE did = @did AND rev > @since AND +cid > @after)
               ORDER BY b.cid LIMIT @rows)`,
      )
      .raw(true)
  }

  root(did: string): { cid: string; rev: string; data_cid: string } | undefined {
    return this.rootStmt.get(did)
  }

  block(did: string, cid: string): Buffer | undefined {
    return this.blockStmt.get(did, cid)?.content
  }

  /** Up to `rows` blocks of the repo in CID order after `afterCid`; `lastKey` is the next `afterCid`. */
  pageAll(did: string, afterCid: string, rows: number): BlockPage | undefined {
    return toPage(this.pageAllStmt.get(did, afterCid, rows)!)
  }

  /**
   * Up to `rows` blocks first written after (`afterRev`, `afterCid`), in (rev, cid) order;
   * `lastKey` is `${rev} ${cid}` of the last one.
   */
  pageSince(did: string, afterRev: string, afterCid: string, rows: number): BlockPage | undefined {
    return toPage(this.pageSinceStmt.get(did, afterRev, afterCid, rows)!)
  }

  /**
   * Up to `rows` blocks, in CID order after `afterCid`, of records written after `since` whose
   * block was first written at or before it: with pageSince, every block a diff since `since`
   * must hold, each once.
   */
  pageReusedRecords(did: string, since: string, afterCid: string, rows: number): BlockPage | undefined {
    return toPage(this.pageReusedStmt.get({ did, since, after: afterCid, rows })!)
  }
}

function toPage([cidList, sizeList, small, n, lastKey]: PageRow): BlockPage | undefined {
  if (n === 0) return undefined
  const cids = cidList!.split(',')
  const sizes = sizeList!.split(',').map(Number)
  if (cids.length !== n || sizes.length !== n) throw new Error('unexpected page shape in block export')
  return { cids, sizes, small: small ?? Buffer.alloc(0), lastKey: lastKey! }
}
