import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { ForbiddenError, InternalServerError, InvalidRequestError } from '@atproto/xrpc-server'
import { CID } from 'multiformats/cid'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import type { BlobService } from '../../repo/blob-service.js'
import { DiskBlobStore } from '../../repo/blobstore.js'
import type { DeltaMade, DeltaMaker } from './delta-maker.js'
import { compareVersions, parseVersion } from './semver.js'
import { RELEASE_COLLECTION, releaseUriParts } from './update-rules.js'

/** The delta format this server makes (src/indexer/updates/delta/format.mjs). */
const DELTA_FORMAT = 'carrel-zstd-segments-1'

export type DeltaRequest = { release: string; fromVersion: string; platform: string; arch: string }

/** The delta entry to put into the release record, with its blob as stored. */
export type DeltaEntry = {
  fromVersion: string
  platform: string
  arch: string
  format: string
  blob: { cid: string; mimeType: string; size: number }
  sha256: string
  size: number
}

type ReleaseRow = { product: string; version: string }
type ArtifactRow = { cid: string; sha256: string; size: number }

/**
 * app.carrel.update.createDelta: the publisher's two artifacts (from its blobs) -> a patch made
 * and proved by the delta worker -> a blob of the publisher. Nothing is stored unless the patch,
 * applied to the old artifact, gives bytes with the new artifact's SHA-256 and size.
 */
export class DeltaCreator {
  private releaseStmt
  private artifactStmt

  constructor(
    private readonly opts: {
      db: Db
      blobs: BlobService
      maker: DeltaMaker
      /** a folder of its own for patches being made and for artifact copies (emptied at start-up) */
      workDir: string
      logger?: Logger
    },
  ) {
    const s = opts.db.sqlite
    this.releaseStmt = s.prepare<[string, string], ReleaseRow>('SELECT product, version FROM update_release WHERE did = ? AND rkey = ?')
    this.artifactStmt = s.prepare<[string, string, string, string], ArtifactRow>(
      'SELECT cid, sha256, size FROM update_artifact WHERE did = ? AND rkey = ? AND platform = ? AND arch = ?',
    )
    // whatever is here was left by a crash in the middle of a job
    rmSync(opts.workDir, { recursive: true, force: true })
    mkdirSync(opts.workDir, { recursive: true, mode: 0o700 })
  }

  async create(did: string, req: DeltaRequest): Promise<DeltaEntry> {
    const parts = releaseUriParts(req.release)
    if (!parts) throw new InvalidRequestError(`release must be the AT-URI of an ${RELEASE_COLLECTION} record`)
    if (parts.did !== did) throw new ForbiddenError("Only a release's publisher may make its deltas")
    const release = this.releaseStmt.get(did, parts.rkey)
    if (!release) throw new InvalidRequestError(`Could not find release ${req.release}`, 'ReleaseNotFound')
    const from = parseVersion(req.fromVersion)
    if (from === undefined) throw new InvalidRequestError(`fromVersion is not a semantic version: ${req.fromVersion}`)
    if (compareVersions(from, release.version) >= 0) throw new InvalidRequestError(`fromVersion must be lower than the release's version ${release.version}`)
    const fromRkey = `${release.product}:${req.fromVersion}`
    if (!this.releaseStmt.get(did, fromRkey)) {
      throw new InvalidRequestError(`Could not find release at://${did}/${RELEASE_COLLECTION}/${fromRkey}`, 'ReleaseNotFound')
    }
    const target = `${req.platform}/${req.arch}`
    const newArtifact = this.artifactStmt.get(did, parts.rkey, req.platform, req.arch)
    if (!newArtifact) throw new InvalidRequestError(`Release ${release.version} has no artifact for ${target}`, 'ArtifactNotFound')
    const oldArtifact = this.artifactStmt.get(did, fromRkey, req.platform, req.arch)
    if (!oldArtifact) throw new InvalidRequestError(`Release ${req.fromVersion} has no artifact for ${target}`, 'ArtifactNotFound')

    const temps: string[] = []
    const temp = () => {
      const path = join(this.opts.workDir, randomBytes(16).toString('hex'))
      temps.push(path)
      return path
    }
    try {
      const oldPath = await this.localFile(did, oldArtifact.cid, temp)
      const newPath = await this.localFile(did, newArtifact.cid, temp)
      const outPath = temp()
      let made: DeltaMade
      try {
        made = await this.opts.maker.make({ oldPath, newPath, outPath })
      } catch (err) {
        this.opts.logger?.error({ release: req.release, fromVersion: req.fromVersion, target, err: { message: (err as Error).message } }, 'delta failed')
        throw new InternalServerError('The delta could not be made; nothing was stored')
      }
      if (made.result.sha256 !== newArtifact.sha256 || made.result.size !== newArtifact.size) {
        // the stored artifact no longer hashes to its CID: the blob store is damaged
        this.opts.logger?.error({ release: req.release, target, cid: newArtifact.cid }, 'delta check failed: the patched result is not the new artifact')
        throw new InternalServerError("The patch did not reproduce the new artifact's SHA-256; nothing was stored")
      }
      const blob = await this.opts.blobs.upload(did, createReadStream(outPath), 'application/octet-stream', Number.MAX_SAFE_INTEGER)
      this.opts.logger?.info(
        { release: req.release, fromVersion: req.fromVersion, target, size: made.size, makeMs: made.makeMs, verifyMs: made.verifyMs, workerPeakRssMb: Math.round(made.peakRssBytes / 1048576) },
        'delta made',
      )
      return {
        fromVersion: req.fromVersion,
        platform: req.platform,
        arch: req.arch,
        format: DELTA_FORMAT,
        blob,
        // a blob's CID is the SHA-256 of its bytes
        sha256: Buffer.from(CID.parse(blob.cid).multihash.digest).toString('hex'),
        size: blob.size,
      }
    } finally {
      await Promise.all(temps.map((p) => unlink(p).catch(() => undefined)))
    }
  }

  /**
   * A file holding the blob's bytes: the blob store's own file when it is on disk (read only;
   * opened by the worker, so a deletion meanwhile does not take it away), else a copy.
   */
  private async localFile(did: string, cid: string, temp: () => string): Promise<string> {
    const row = this.opts.blobs.table.get(did, cid)
    const store = this.opts.blobs.store
    if (row && store instanceof DiskBlobStore && (await store.has(did, cid))) return store.path(did, cid)
    const found = row ? await store.getStream(did, cid) : null
    if (!found) throw new InvalidRequestError(`Blob ${cid} is not stored on this server`, 'BlobNotFound')
    const path = temp()
    await pipeline(found.stream, createWriteStream(path, { mode: 0o600 }))
    return path
  }
}
