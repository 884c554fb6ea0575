import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs'
import { mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { parseCid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { SNIFF_BYTES } from './mime-sniff.js'

const RAW = 0x55
const SHA2_256 = 0x12

/** The upload went past the size limit; whatever was written has been removed. */
export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`blob is larger than ${limit} bytes`)
  }
}

/** A finished upload in temporary storage, not yet at its content address. */
export type TempBlob = {
  key: string
  /** CIDv1, raw codec, sha2-256 */
  cid: string
  size: number
  /** the first bytes, for content sniffing */
  head: Uint8Array
}

/**
 * Where blob bytes live. Content-addressed per DID: a blob is (did, cid). Every method that
 * takes a DID and CID validates both and builds the location itself; no client-supplied path
 * ever reaches the storage.
 */
export interface BlobStore {
  /** Stream `data` into temporary storage while hashing it; throws BlobTooLargeError past `maxSize`. */
  putTemp(data: AsyncIterable<Uint8Array>, opts: { maxSize: number }): Promise<TempBlob>
  /** Move a temporary upload to its content address (idempotent: same address = same bytes). */
  makePermanent(key: string, did: string, cid: string): Promise<void>
  /** Drop a temporary upload that will not be kept. */
  discardTemp(key: string): Promise<void>
  /** The stored bytes as a stream, or null. */
  getStream(did: string, cid: string): Promise<{ stream: Readable; size: number } | null>
  has(did: string, cid: string): Promise<boolean>
  /**
   * Delete the bytes (no error if absent). The disk store removes the file before the returned
   * promise is created, so a caller that checked the database in the same tick is race-free.
   */
  delete(did: string, cid: string): Promise<void>
  /** Remove temporary uploads older than `olderThanMs` (left behind by a crash). */
  sweepTemp(olderThanMs: number): Promise<number>
  /** The CIDs of every blob stored for `did`. */
  list(did: string): Promise<string[]>
  /** Remove what is left of `did`'s storage once it holds no blob (no error if it is absent or not empty). */
  removeEmptyRepo(did: string): Promise<void>
}

/** A DID as one path segment: ':' and '%' percent-encoded (bijective), anything odd refused. */
export function didDirName(did: string): string {
  if (!/^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2000}$/.test(did)) throw new Error(`invalid DID for blob storage: ${did}`)
  return did.replace(/%/g, '%25').replace(/:/g, '%3A')
}

/** A blob CID re-serialised from its parsed form (raw codec only), safe as a file name. */
export function blobCidName(cid: string): string {
  const parsed = parseCid(cid)
  if (parsed.code !== RAW) throw new Error(`not a blob CID (codec ${parsed.code}): ${cid}`)
  const name = parsed.toString()
  if (!/^[a-z2-7]+$/.test(name.slice(1)) || name[0] !== 'b') throw new Error(`unexpected CID encoding: ${cid}`)
  return name
}

export function rawCidForDigest(sha256: Uint8Array): string {
  return CID.createV1(RAW, createDigest(SHA2_256, sha256)).toString()
}

/**
 * Blobs on local disk: `<root>/<did>/<cid>`, temporary uploads in `<root>/.tmp/`. Writes are
 * atomic: temp file, fsync, rename, fsync of the directory.
 */
export class DiskBlobStore implements BlobStore {
  private tmpDir: string

  constructor(readonly root: string) {
    this.tmpDir = join(root, '.tmp')
    // owner-only, like the data directory (an existing folder keeps its mode)
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 })
  }

  private tempPath(key: string): string {
    if (!/^[0-9a-f]{32}$/.test(key)) throw new Error('invalid temp blob key')
    return join(this.tmpDir, key)
  }

  /** Where the blob's file is (or would be): for a reader that needs a path, such as the delta worker. */
  path(did: string, cid: string): string {
    return join(this.root, didDirName(did), blobCidName(cid))
  }

  async putTemp(data: AsyncIterable<Uint8Array>, opts: { maxSize: number }): Promise<TempBlob> {
    const key = randomBytes(16).toString('hex')
    const path = this.tempPath(key)
    const file = await open(path, 'wx', 0o600)
    const hash = createHash('sha256')
    const head = new Uint8Array(SNIFF_BYTES)
    let headLen = 0
    let size = 0
    let ok = false
    try {
      for await (const chunk of data) {
        size += chunk.length
        if (size > opts.maxSize) throw new BlobTooLargeError(opts.maxSize)
        if (headLen < SNIFF_BYTES) {
          const n = Math.min(SNIFF_BYTES - headLen, chunk.length)
          head.set(chunk.subarray(0, n), headLen)
          headLen += n
        }
        hash.update(chunk)
        let written = 0
        while (written < chunk.length) {
          const r = await file.write(chunk, written, chunk.length - written)
          written += r.bytesWritten
        }
      }
      await file.sync()
      ok = true
    } finally {
      await file.close()
      if (!ok) await unlink(path).catch(() => undefined)
    }
    return { key, cid: rawCidForDigest(hash.digest()), size, head: head.slice(0, headLen) }
  }

  async makePermanent(key: string, did: string, cid: string): Promise<void> {
    const from = this.tempPath(key)
    const to = this.path(did, cid)
    const dir = join(this.root, didDirName(did))
    await mkdir(dir, { recursive: true, mode: 0o700 })
    // same address = same bytes: a rename over an existing file is harmless
    await rename(from, to)
    await fsyncDir(dir)
  }

  async discardTemp(key: string): Promise<void> {
    await unlink(this.tempPath(key)).catch(() => undefined)
  }

  async getStream(did: string, cid: string): Promise<{ stream: Readable; size: number } | null> {
    const path = this.path(did, cid)
    try {
      const st = await stat(path)
      return { stream: createReadStream(path, { highWaterMark: 256 * 1024 }), size: st.size }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  async has(did: string, cid: string): Promise<boolean> {
    try {
      await stat(this.path(did, cid))
      return true
    } catch {
      return false
    }
  }

  delete(did: string, cid: string): Promise<void> {
    try {
      unlinkSync(this.path(did, cid))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return Promise.reject(err)
    }
    return Promise.resolve()
  }

  async list(did: string): Promise<string[]> {
    try {
      // only names that are blob CIDs (a file being renamed into place is one already)
      return (await readdir(join(this.root, didDirName(did)))).filter((name) => {
        try {
          return blobCidName(name) === name
        } catch {
          return false
        }
      })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
  }

  async removeEmptyRepo(did: string): Promise<void> {
    try {
      await rmdir(join(this.root, didDirName(did)))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err
    }
  }

  async sweepTemp(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs
    let removed = 0
    for (const name of readdirSync(this.tmpDir)) {
      const path = join(this.tmpDir, name)
      try {
        if (statSync(path).mtimeMs < cutoff) {
          unlinkSync(path)
          removed++
        }
      } catch {
        // raced with its own upload finishing
      }
    }
    return removed
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r')
  try {
    await fd.sync()
  } finally {
    await fd.close()
  }
}
