import { Readable } from 'node:stream'
import { parseCid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { ReadSnapshotPool, type ReadSnapshot } from '../db/read-snapshots.js'
import { SMALL_BLOCK, SnapshotBlockReader, type BlockPage } from './block-store.js'
import { carHeader, encodeCar, writeCidBytes, writeVarint } from './car.js'
import { coveringProof, MstNode, type BlockSource } from './mst-tree.js'

/** Rows per page of blocks read at once while streaming a repo (see BlockPage for the bytes). */
const PAGE_ROWS = 1000
/** Output chunk size handed to the HTTP response. */
const CHUNK_BYTES = 256 * 1024

type Snapshot = ReadSnapshot<SnapshotBlockReader>

/** Packs CAR blocks into chunks of about CHUNK_BYTES. */
class CarChunker {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES)
  private pos = 0
  private ready: Buffer[] = []

  constructor(first: Buffer) {
    this.ready.push(first)
  }

  /** One block: `cid` and the bytes src[start, end) (a slice of a page, copied, never re-wrapped). */
  add(cid: string, src: Buffer, start: number, end: number): void {
    const len = end - start
    // cid (≤ 100 bytes for sha2-256 CIDs) + varint (≤ 10)
    const need = len + 128
    if (this.pos + need > this.buf.length) this.flush()
    if (need > this.buf.length) {
      const big = Buffer.allocUnsafe(need)
      const n = this.frame(big, 0, cid, src, start, end)
      this.ready.push(big.subarray(0, n))
      return
    }
    this.pos += this.frame(this.buf, this.pos, cid, src, start, end)
  }

  private frame(out: Buffer, off: number, cid: string, src: Buffer, start: number, end: number): number {
    let cidLen: number
    let vl: number
    if (cid.charCodeAt(0) === 0x62 /* b */) {
      // base32 without padding: the byte length is known from the string length
      cidLen = ((cid.length - 1) * 5) >> 3
      vl = writeVarint(cidLen + end - start, out, off)
      writeCidBytes(cid, out, off + vl)
    } else {
      const bytes = parseCid(cid).bytes
      cidLen = bytes.length
      vl = writeVarint(cidLen + end - start, out, off)
      out.set(bytes, off + vl)
    }
    src.copy(out, off + vl + cidLen, start, end)
    return vl + cidLen + end - start
  }

  flush(): void {
    if (this.pos > 0) {
      this.ready.push(this.buf.subarray(0, this.pos))
      this.buf = Buffer.allocUnsafe(CHUNK_BYTES)
      this.pos = 0
    }
  }

  take(): Buffer[] {
    const out = this.ready
    this.ready = []
    return out
  }
}

// ---- snapshot reads --------------------------------------------------------------------------

export type RepoExport = { commitCid: string; rev: string; stream: Readable }

/**
 * Reads repositories for the sync API from a consistent snapshot: each export or proof takes a
 * read snapshot of its own (src/db/read-snapshots.ts) for its whole duration, so concurrent
 * commits neither tear it nor block on it (WAL). The main connection never has an iterator
 * open across an await.
 */
export class RepoExporter {
  private snapshots: ReadSnapshotPool<SnapshotBlockReader>

  constructor(dbPath: string) {
    this.snapshots = new ReadSnapshotPool(dbPath, (conn) => new SnapshotBlockReader(conn))
  }

  private root(snap: Snapshot, did: string) {
    const root = snap.queries.root(did)
    if (!root) throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    return root
  }

  /**
   * A CARv1 stream of the repo: the signed commit first, then every block (or, with `since`, the
   * blocks first written by a later rev). Rows are read in keyset-paginated pages, and the next
   * page is only read when the consumer wants more bytes (backpressure).
   */
  exportRepo(did: string, since?: string): RepoExport {
    const snap = this.snapshots.acquire()
    const reader = snap.queries
    let root: { cid: string; rev: string }
    let commitBytes: Buffer
    try {
      root = this.root(snap, did)
      const commit = reader.block(did, root.cid)
      if (!commit) throw new Error(`commit block ${root.cid} of ${did} is missing`)
      commitBytes = commit
    } catch (err) {
      snap.release()
      throw err
    }
    const commitCid = root.cid
    const header = carHeader(parseCid(commitCid))
    // once per export: the connection may be reused by another export afterwards
    const release = () => snap.release()

    async function* generate(): AsyncGenerator<Buffer> {
      try {
        const chunker = new CarChunker(header)
        chunker.add(commitCid, commitBytes, 0, commitBytes.length)
        let lastCid = ''
        let lastRev = since ?? ''
        if (since !== undefined) lastCid = '~' // after every CID: rows with rev = since are excluded
        for (;;) {
          const page: BlockPage | undefined =
            since === undefined ? reader.pageAll(did, lastCid, PAGE_ROWS) : reader.pageSince(did, lastRev, lastCid, PAGE_ROWS)
          if (!page) break
          const { cids, sizes, small } = page
          let off = 0
          for (let i = 0; i < cids.length; i++) {
            const cid = cids[i]!
            const len = sizes[i]!
            if (len > SMALL_BLOCK) {
              if (cid === commitCid) continue
              const big = reader.block(did, cid)
              if (!big || big.length !== len) throw new Error(`block ${cid} changed during export`)
              chunker.add(cid, big, 0, len)
            } else {
              if (cid !== commitCid) chunker.add(cid, small, off, off + len)
              off += len
            }
          }
          if (off !== small.length) throw new Error('unexpected page length in block export')
          if (since === undefined) lastCid = page.lastKey
          else {
            const sp = page.lastKey.indexOf(' ')
            lastRev = page.lastKey.slice(0, sp)
            lastCid = page.lastKey.slice(sp + 1)
          }
          if (cids.length < PAGE_ROWS) break
          for (const chunk of chunker.take()) yield chunk
        }
        chunker.flush()
        for (const chunk of chunker.take()) yield chunk
      } finally {
        release()
      }
    }

    const stream = Readable.from(generate(), { objectMode: false, highWaterMark: CHUNK_BYTES })
    // a stream destroyed before its first read never enters the generator's `finally`
    stream.once('close', release)
    return { commitCid, rev: root.rev, stream }
  }

  /**
   * A CAR proving the record at collection/rkey, or its absence: the signed commit, the MST
   * nodes on the path to the key (for an absent key, down to where it would be, which is what a
   * verifier walks), the nodes beside it (as the firehose's covering proofs), and the record
   * block when it exists.
   */
  async proveRecord(did: string, collection: string, rkey: string): Promise<{ car: Uint8Array; cid: string | null }> {
    const snap = this.snapshots.acquire()
    try {
      const root = this.root(snap, did)
      const source: BlockSource = { getBytesSync: (cid) => snap.queries.block(did, cid) ?? null }
      const tree = MstNode.load(source, parseCid(root.data_cid))
      const key = `${collection}/${rkey}`
      const blocks = new Map<string, Uint8Array>()
      coveringProof(source, tree, key, blocks)
      const leaf = tree.get(source, key)?.toString() ?? null
      const record = leaf === null ? null : source.getBytesSync(leaf)
      if (leaf !== null && record) blocks.set(leaf, record)
      const commit = source.getBytesSync(root.cid)
      if (!commit) throw new Error(`commit block ${root.cid} of ${did} is missing`)
      blocks.set(root.cid, commit)
      return { car: encodeCar(parseCid(root.cid), blocks), cid: leaf }
    } finally {
      snap.release()
    }
  }

  close(): void {
    this.snapshots.close()
  }
}
