import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import type { RolloutBuckets } from './rollout.js'
import { parseRunningVersion, versionKey } from './semver.js'
import { RELEASE_COLLECTION } from './update-rules.js'

export type UpdateQuery = {
  publisher: string
  product: string
  platform: string
  arch: string
  currentVersion: string
  channel: string
  device?: string
}

export type Download = {
  url: string
  cid: string
  sha256: string
  size: number
  platform: string
  arch: string
  fileName?: string
  minOsVersion?: string
  fromVersion?: string
  format?: string
}

export type ReleaseView = {
  uri: string
  cid: string
  product: string
  version: string
  channel: string
  updateType: string
  priority: number
  rolloutPercent: number
  rollbackSupported: boolean
  changelog?: string
  publishedAt: string
}

export type Offer = {
  status: 'update' | 'rollback' | 'upToDate'
  currentVersion: string
  currentYanked?: boolean
  yankReason?: string
  release?: ReleaseView
  method?: 'delta' | 'full'
  artifact?: Download
  delta?: Download
}

/** A release with the artifact it would be installed from (the device's arch, else 'universal'). */
type Candidate = {
  rkey: string
  cid: string
  version: string
  prerelease: number
  channel: string
  update_type: string
  priority: number
  rollout_percent: number
  rollback_supported: number
  yanked: number
  published_at: string
  a_arch: string
  a_cid: string
  a_sha256: string
  a_size: number
  a_file_name: string
  a_min_os_version: string | null
}

type DeltaRow = { cid: string; sha256: string; size: number; format: string }

const CANDIDATE_COLUMNS = `r.rkey, r.cid, r.version, r.prerelease, r.channel, r.update_type, r.priority, r.rollout_percent,
  r.rollback_supported, r.yanked, r.published_at, a.arch AS a_arch, a.cid AS a_cid, a.sha256 AS a_sha256, a.size AS a_size,
  a.file_name AS a_file_name, a.min_os_version AS a_min_os_version
  FROM update_release r JOIN update_artifact a ON a.did = r.did AND a.rkey = r.rkey AND a.platform = ? AND a.arch IN (?, 'universal')`

/**
 * checkForUpdates from the query tables: the releases above the device's version that have its
 * platform, newest first (one index range), then the first one the rules offer it. A few indexed
 * reads per call, whatever the number of releases.
 */
export class UpdateOffers {
  private newerStmt
  private olderRollbackStmt
  private currentStmt
  private deltaStmt
  private changelogStmt

  constructor(
    db: Db,
    private readonly rollout: RolloutBuckets,
    /** the download URL of a blob of the publisher */
    private readonly blobUrl: (did: string, cid: string) => string,
  ) {
    const s = db.sqlite
    // parameters: platform, arch, publisher, product, version key, arch; for each release the
    // exact arch's artifact comes first, then 'universal'
    this.newerStmt = s.prepare<[string, string, string, string, string, string], Candidate>(
      `SELECT ${CANDIDATE_COLUMNS}
       WHERE r.did = ? AND r.product = ? AND r.version_key > ? ORDER BY r.version_key DESC, a.arch = ? DESC`,
    )
    this.olderRollbackStmt = s.prepare<[string, string, string, string, string, string], Candidate>(
      `SELECT ${CANDIDATE_COLUMNS}
       WHERE r.did = ? AND r.product = ? AND r.version_key < ? AND r.rollback_supported = 1 AND r.yanked = 0
       ORDER BY r.version_key DESC, a.arch = ? DESC`,
    )
    this.currentStmt = s.prepare<[string, string], { yanked: number; yank_reason: string | null }>(
      'SELECT yanked, yank_reason FROM update_release WHERE did = ? AND rkey = ?',
    )
    this.deltaStmt = s.prepare<[string, string, string, string, string], DeltaRow>(
      'SELECT cid, sha256, size, format FROM update_delta WHERE did = ? AND rkey = ? AND from_version = ? AND platform = ? AND arch = ?',
    )
    this.changelogStmt = s.prepare<[string, string], string | null>('SELECT changelog FROM update_release WHERE did = ? AND rkey = ?').pluck()
  }

  check(q: UpdateQuery): Offer {
    const running = parseRunningVersion(q.currentVersion)
    if (running === undefined) throw new InvalidRequestError(`currentVersion is not a semantic version: ${q.currentVersion}`)
    // build metadata does not take part in precedence (semver 2.0.0, item 10)
    const current = running.version
    const currentKey = versionKey(running)
    const yanked = this.currentStmt.get(q.publisher, `${q.product}:${current}`)
    const onYanked = yanked?.yanked === 1
    const base: Offer = { status: 'upToDate', currentVersion: current, ...(onYanked ? { currentYanked: true, yankReason: yanked.yank_reason ?? undefined } : {}) }
    const uri = (rkey: string) => `at://${q.publisher}/${RELEASE_COLLECTION}/${rkey}`
    const channelTakes = (c: Candidate) =>
      (c.channel === 'stable' || c.channel === q.channel) && (c.prerelease === 0 || q.channel !== 'stable')

    // a device on a yanked release is offered the newest good one whatever its rollout
    const newer = this.first(this.newerStmt.iterate(q.platform, q.arch, q.publisher, q.product, currentKey, q.arch), (c) =>
      c.yanked === 0 && channelTakes(c) && (onYanked || c.update_type === 'critical' || this.rollout.includes(q.device, uri(c.rkey), c.rollout_percent)),
    )
    if (newer) return this.offer(q, base, 'update', newer, current)
    if (onYanked) {
      const back = this.first(this.olderRollbackStmt.iterate(q.platform, q.arch, q.publisher, q.product, currentKey, q.arch), channelTakes)
      if (back) return this.offer(q, base, 'rollback', back, current)
    }
    return base
  }

  /**
   * The first release (rows come one or two per release, its best artifact first) that `offered`
   * accepts. The rows are read as they come and no further: usually the newest release is the one.
   */
  private first(rows: Iterable<Candidate>, offered: (c: Candidate) => boolean): Candidate | undefined {
    let last: string | undefined
    for (const row of rows) {
      if (row.rkey === last) continue
      last = row.rkey
      if (offered(row)) return row
    }
    return undefined
  }

  private offer(q: UpdateQuery, base: Offer, status: 'update' | 'rollback', c: Candidate, current: string): Offer {
    const release: ReleaseView = {
      uri: `at://${q.publisher}/${RELEASE_COLLECTION}/${c.rkey}`,
      cid: c.cid,
      product: q.product,
      version: c.version,
      channel: c.channel,
      updateType: c.update_type,
      priority: c.priority,
      rolloutPercent: c.rollout_percent,
      rollbackSupported: c.rollback_supported === 1,
      changelog: this.changelogStmt.get(q.publisher, c.rkey) ?? undefined,
      publishedAt: c.published_at,
    }
    const artifact: Download = {
      url: this.blobUrl(q.publisher, c.a_cid),
      cid: c.a_cid,
      sha256: c.a_sha256,
      size: c.a_size,
      platform: q.platform,
      arch: c.a_arch,
      fileName: c.a_file_name,
      minOsVersion: c.a_min_os_version ?? undefined,
    }
    const d = this.deltaStmt.get(q.publisher, c.rkey, current, q.platform, c.a_arch)
    // a patch no smaller than the artifact is not worth applying
    const delta: Download | undefined =
      d && d.size < c.a_size
        ? { url: this.blobUrl(q.publisher, d.cid), cid: d.cid, sha256: d.sha256, size: d.size, platform: q.platform, arch: c.a_arch, fromVersion: current, format: d.format }
        : undefined
    return { ...base, status, release, method: delta ? 'delta' : 'full', artifact, ...(delta ? { delta } : {}) }
  }
}
