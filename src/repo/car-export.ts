import type { Readable } from 'node:stream'
import { parseCid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { ReadSnapshotPool, type ReadSnapshot } from '../db/read-snapshots.js'
import { SMALL_BLOCK, SnapshotBlockReader, type BlockPage } from './block-store.js'
import { BoundedStream, type StreamBounds } from './bounded-stream.js'
import { carHeader, encodeCar } from './car.js'
import { CarChunker, CHUNK_BYTES } from './car-chunker.js'
import { coveringProof, MstNode, type BlockSource } from './mst-tree.js'

/** Rows per page of blocks read at once while streaming a repo (see BlockPage for the bytes). */
const PAGE_ROWS = 1000

type Snapshot = ReadSnapshot<SnapshotBlockReader>

/** `${rev} ${cid}` (a pageSince key) as [rev, cid] */
function splitRevKey(key: string): [string, string] {
  const sp = key.indexOf(' ')
  return [key.slice(0, sp), key.slice(sp + 1)]
}

export type RepoExport = { commitCid: string; rev: string; stream: Readable }

/**
 * A CARv1 stream with no roots of the blocks `cids`, each read with `read` only when the
 * consumer wants more bytes: one block (≤ 1 MB) in memory at a time, whatever their number.
 * A block gone by the time it is read (a commit dropped it after the caller checked) cuts the
 * stream.
 */
export function blocksCarStream(cids: string[], read: (cid: string) => Uint8Array | undefined, bounds: StreamBounds): Readable {
  function* chunks(): Generator<Buffer> {
    const chunker = new CarChunker(carHeader(null))
    for (const cid of cids) {
      const bytes = read(cid)
      // an XRPC error, not a server failure; the client only sees the connection close
      if (!bytes) throw new InvalidRequestError(`block ${cid} was removed while the answer was being sent`, 'BlockNotFound')
      chunker.add(cid, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.byteLength)
      yield* chunker.take()
    }
    chunker.flush()
    yield* chunker.take()
  }
  return new BoundedStream(chunks(), bounds, () => {}, CHUNK_BYTES)
}

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
   * A CARv1 stream of the repo: the signed commit first, then every block; or, with `since`, the
   * blocks first written by a later rev and the blocks of records written by a later rev (which
   * a diff must hold even when the same bytes were in the repo before), each once. Rows are
   * read in keyset-paginated pages, and the next page is only read when the consumer wants more
   * bytes (backpressure). The snapshot is held until the stream ends or is destroyed, which
   * `bounds` makes sure of (a client that stops reading would otherwise hold it, and keep the
   * WAL from being checkpointed, for ever).
   */
  exportRepo(did: string, since: string | undefined, bounds: StreamBounds): RepoExport {
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

    // each source of pages in turn; `next` gives the page after the last key it was handed
    type PageSource = { first: string; next: (lastKey: string) => BlockPage | undefined }
    const sources: PageSource[] =
      since === undefined
        ? [{ first: '', next: (after) => reader.pageAll(did, after, PAGE_ROWS) }]
        : [
            // keys are `${rev} ${cid}`; '~' sorts after every CID, so rows of rev = since are left out
            { first: `${since} ~`, next: (after) => reader.pageSince(did, ...splitRevKey(after), PAGE_ROWS) },
            { first: '', next: (after) => reader.pageReusedRecords(did, since, after, PAGE_ROWS) },
          ]

    function* chunks(): Generator<Buffer> {
      const chunker = new CarChunker(carHeader(parseCid(commitCid)))
      chunker.add(commitCid, commitBytes, 0, commitBytes.length)
      for (const source of sources) {
        let lastKey = source.first
        for (;;) {
          const page = source.next(lastKey)
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
          lastKey = page.lastKey
          if (cids.length < PAGE_ROWS) break
          yield* chunker.take()
        }
      }
      chunker.flush()
      yield* chunker.take()
    }

    const stream = new BoundedStream(chunks(), bounds, snap.release, CHUNK_BYTES)
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
