import type { Readable } from 'node:stream'
import type { Lexicons } from '@atproto/lexicon'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { blobConstraints, mimeAccepted } from './blob-lexicon.js'
import { BlobTable, type BlobRow } from './blob-table.js'
import type { BlobStore } from './blobstore.js'
import { decideMime } from './mime-sniff.js'
import type { CommitHook, CommitResult, RecordOp } from './types.js'

export type StoredBlob = { cid: string; mimeType: string; size: number }

/** An upload refused because no record of the repo references the blob. */
export class BlobNotReferencedError extends Error {
  constructor(readonly cid: string) {
    super(`No record of this repo references the blob ${cid}`)
  }
}

/**
 * The blob lifecycle:
 * - upload: bytes streamed to temporary storage while hashing (bounded by the size limit), the
 *   type sniffed from the first bytes, a `temp` row written, then the bytes moved to their
 *   content address. A crash at any point leaves at most a temp row or temp file, both swept.
 * - commit (hook): `check` refuses records that reference a blob this DID never uploaded, or
 *   whose mimeType/size differ from the upload, or that break the lexicon's accept/maxSize;
 *   `inTx` writes record_blob rows, flips referenced blobs to `permanent` and deletes the rows of
 *   blobs no longer referenced; their files are deleted after COMMIT.
 * - sweep: temporary blobs older than the grace period are removed (row first, then file).
 */
export class BlobService {
  readonly table: BlobTable
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<void> | undefined

  constructor(
    private opts: {
      db: Db
      store: BlobStore
      lexicons: Lexicons
      logger?: Logger
      /** how long an unreferenced upload is kept */
      tempGraceMs: number
      sweepIntervalMs: number
    },
  ) {
    this.table = new BlobTable(opts.db)
  }

  get store(): BlobStore {
    return this.opts.store
  }

  /**
   * `onlyReferenced`: take the blob only if a record of the repo already references it (what an
   * account arriving by migration uploads after importing its repo); otherwise nothing is kept
   * and BlobNotReferencedError is thrown.
   */
  async upload(
    did: string,
    body: AsyncIterable<Uint8Array>,
    declaredType: string | undefined,
    maxSize: number,
    opts: { onlyReferenced?: boolean } = {},
  ): Promise<StoredBlob> {
    const temp = await this.opts.store.putTemp(body, { maxSize })
    let row: BlobRow
    try {
      if (opts.onlyReferenced && !this.table.isReferenced(did, temp.cid)) throw new BlobNotReferencedError(temp.cid)
      const mimeType = decideMime(temp.head, declaredType)
      // the row first: if we crash after it, the sweep finds it; the file move is idempotent
      row = this.table.upsertTemp(did, temp.cid, mimeType, temp.size, new Date().toISOString())
      await this.opts.store.makePermanent(temp.key, did, temp.cid)
      // a commit may have dropped the (permanent) row while the file was moving: no orphan file
      if (!this.table.get(did, temp.cid)) {
        await this.opts.store.delete(did, temp.cid)
        throw new InvalidRequestError('The blob was deleted while it was being uploaded; upload it again')
      }
      // a blob that records already reference (an imported repo's, uploaded after the import) is
      // theirs from now on: permanent, served, never swept. The file is in place by now.
      if (row.status === 'temp' && this.table.isReferenced(did, temp.cid)) {
        this.table.markPermanent(did, temp.cid)
        row = this.table.get(did, temp.cid)!
      }
    } catch (err) {
      await this.opts.store.discardTemp(temp.key)
      throw err
    }
    return { cid: row.cid, mimeType: row.mime_type, size: row.size }
  }

  /** A permanent blob's bytes, type and size; temporary blobs are not served. */
  async get(did: string, cid: string): Promise<(StoredBlob & { stream: Readable }) | null> {
    const row = this.table.get(did, cid)
    if (!row || row.status !== 'permanent') return null
    const found = await this.opts.store.getStream(did, cid)
    if (!found) return null
    return { cid, mimeType: row.mime_type, size: found.size, stream: found.stream }
  }

  list(did: string, opts: { since?: string; cursor?: string; limit: number }): string[] {
    return this.table.listPermanent(did, opts)
  }

  listMissing(did: string, opts: { cursor?: string; limit: number }) {
    return this.table.listMissing(did, opts)
  }

  /** Whether a record of the repo references a blob that is not stored (an imported repo's). */
  hasMissing(did: string): boolean {
    return this.table.listMissing(did, { limit: 1 }).length > 0
  }

  /** Checks every blob a new record references against what this DID uploaded and the lexicon. */
  checkOps(did: string, ops: readonly RecordOp[]): void {
    for (const op of ops) {
      if (op.record === null || op.blobs.length === 0) continue
      const constraints = blobConstraints(this.opts.lexicons, op.collection, op.record)
      for (const ref of op.blobs) {
        const cid = ref.cid.toString()
        const row = this.table.get(did, cid)
        if (!row) {
          throw new InvalidRequestError(`Could not find blob ${cid} referenced by ${op.uri}: upload it first`, 'BlobNotFound')
        }
        if (row.mime_type !== ref.mimeType) {
          throw new InvalidRequestError(
            `Blob ${cid} in ${op.uri} has mimeType ${ref.mimeType}, but it was stored as ${row.mime_type}`,
            'InvalidMimeType',
          )
        }
        if (row.size !== ref.size) {
          throw new InvalidRequestError(`Blob ${cid} in ${op.uri} has size ${ref.size}, but it was stored with ${row.size} bytes`)
        }
        for (const rule of constraints.filter((c) => c.cid === cid)) {
          if (!mimeAccepted(row.mime_type, rule.accept)) {
            throw new InvalidRequestError(
              `Blob ${cid} at ${rule.path} is ${row.mime_type}; accepted types are ${rule.accept!.join(', ')}`,
              'InvalidMimeType',
            )
          }
          if (rule.maxSize !== undefined && row.size > rule.maxSize) {
            throw new InvalidRequestError(
              `Blob ${cid} at ${rule.path} is ${row.size} bytes; the limit there is ${rule.maxSize}`,
              'BlobTooLarge',
            )
          }
        }
      }
    }
  }

  /** Inside the commit's transaction: references, permanence, and unreferenced blobs. */
  applyCommitInTx(commit: CommitResult): void {
    if (commit.imported) return this.applyImportInTx(commit)
    const { did, ops } = commit
    const released = new Set<string>()
    // 1. forget what updated and deleted records referenced
    for (const op of ops) {
      if (op.prev !== null) {
        for (const cid of this.table.takeRefsOfRecord(did, op.uri)) released.add(cid)
      }
    }
    // 2. new references make their blobs permanent
    for (const op of ops) {
      for (const ref of op.blobs) {
        const cid = ref.cid.toString()
        if (!this.table.markPermanent(did, cid)) {
          // swept between the check and now: refuse the whole commit
          throw new InvalidRequestError(`Could not find blob ${cid} referenced by ${op.uri}: upload it again`, 'BlobNotFound')
        }
        this.table.addRef(did, op.uri, cid, commit.rev)
        released.delete(cid)
      }
    }
    // 3. blobs nobody references any more go away
    const gone: string[] = []
    for (const cid of released) {
      if (!this.table.isReferenced(did, cid)) {
        this.table.delete(did, cid)
        gone.push(cid)
      }
    }
    if (gone.length > 0) {
      // after the transaction: delete a file only if its row is really gone (the transaction may
      // still roll back; a new upload of the same bytes writes its row before its file)
      setImmediate(() => void this.deleteFilesIfUnrecorded(did, gone))
    }
  }

  /**
   * Inside an import's transaction, after `deleteRepoInTx`: the imported records' references.
   * Their blobs are uploaded afterwards (listMissingBlobs lists them until then); `upload` makes
   * a blob that a record already references permanent at once.
   */
  private applyImportInTx(commit: CommitResult): void {
    for (const op of commit.ops) {
      for (const ref of op.blobs) {
        const cid = ref.cid.toString()
        this.table.addRef(commit.did, op.uri, cid, commit.rev)
        this.table.markPermanent(commit.did, cid)
      }
    }
  }

  private async deleteFilesIfUnrecorded(did: string, cids: string[]): Promise<void> {
    for (const cid of cids) {
      try {
        if (!this.table.get(did, cid)) await this.opts.store.delete(did, cid)
      } catch (err) {
        this.opts.logger?.warn({ err: (err as Error).message, did, cid }, 'could not delete blob file')
      }
    }
  }

  readonly hook: CommitHook = {
    check: (did, ops) => this.checkOps(did, ops),
    inTx: (commit) => this.applyCommitInTx(commit),
    deleteRepoInTx: (did) => this.deleteRepoInTx(did),
  }

  /**
   * Inside the transaction that deletes a whole repo: its blob rows and references go; the files
   * go after COMMIT (`deleteUnrecordedFiles`, scheduled here; the caller may also await it).
   */
  deleteRepoInTx(did: string): void {
    this.table.deleteRepo(did)
    setImmediate(() => void this.deleteUnrecordedFiles(did))
  }

  /**
   * Deletes every file of `did` that has no blob row, then its folder if that left it empty.
   * Idempotent. Checking the row per file keeps it safe beside a rolled-back deletion and beside
   * an upload that lands meanwhile (an upload writes its row before its file).
   */
  async deleteUnrecordedFiles(did: string): Promise<void> {
    try {
      const cids = await this.opts.store.list(did)
      await this.deleteFilesIfUnrecorded(did, cids)
      await this.opts.store.removeEmptyRepo(did)
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message, did }, 'could not delete the blob files of a deleted repo')
    }
  }

  /** Remove unreferenced temporary blobs older than the grace period (rows, then files). */
  sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping
    this.sweeping = (async () => {
      const cutoff = new Date(Date.now() - this.opts.tempGraceMs).toISOString()
      let removed = 0
      for (;;) {
        const rows = this.table.takeExpiredTemp(cutoff, 500)
        // synchronously after the rows' transaction, so no upload of the same bytes interleaves
        for (const r of rows) {
          if (!this.table.get(r.did, r.cid)) await this.opts.store.delete(r.did, r.cid)
        }
        removed += rows.length
        if (rows.length < 500) break
      }
      const temps = await this.opts.store.sweepTemp(this.opts.tempGraceMs)
      if (removed + temps > 0) this.opts.logger?.info({ blobs: removed, tempFiles: temps }, 'swept temporary blobs')
    })()
      .catch((err) => {
        this.opts.logger?.error({ err: (err as Error).message }, 'blob sweep failed')
      })
      .finally(() => {
        this.sweeping = undefined
      })
    return this.sweeping
  }

  /** A sweep now (what a crash left behind) and then every interval. */
  startSweeper(): Promise<void> {
    this.stopSweeper()
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs)
    this.timer.unref()
    return this.sweep()
  }

  async stopSweeper(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.sweeping
  }
}
