import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'
import { keyOf } from './semver.js'
import { INSTALL_COLLECTION, RELEASE_COLLECTION, releaseUriParts } from './update-rules.js'

export type InstallView = {
  uri: string
  cid: string
  release: { uri: string; cid: string }
  fromVersion?: string
  toVersion: string
  method: string
  status: string
  errorCode?: string
  startedAt?: string
  completedAt?: string
  updatedAt?: string
  createdAt: string
}

export type ReleaseAdoption = {
  uri: string
  version: string
  yanked: boolean
  completed: number
  failed: number
  rolledBack: number
  inProgress: number
  failures: { errorCode: string; devices: number }[]
}

type InstallRow = {
  did: string
  rkey: string
  cid: string
  release_did: string
  release_rkey: string
  release_cid: string
  device: string
  from_version: string | null
  to_version: string
  method: string
  status: string
  error_code: string | null
  started_at: string | null
  completed_at: string | null
  updated_at: string | null
  created_at: string
}

const opt = (v: string | null) => v ?? undefined

/**
 * What devices report, from the install records in the update tables: an account's installs per
 * device (getInstallStatus), and per release of a product how many devices of the accounts this
 * server serves completed, failed or rolled it back (getAdoption). Nothing here is tracked apart
 * from the records.
 */
export class InstallReports {
  private byAccountStmt
  private byAccountReleaseStmt
  private releasesStmt
  private latestPerDeviceStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.byAccountStmt = s.prepare<[string], InstallRow>('SELECT * FROM update_install WHERE did = ? ORDER BY device, rkey DESC')
    this.byAccountReleaseStmt = s.prepare<[string, string, string], InstallRow>(
      'SELECT * FROM update_install WHERE did = ? AND release_did = ? AND release_rkey = ? ORDER BY device, rkey DESC',
    )
    this.releasesStmt = s.prepare<[string, string, string, number], { rkey: string; version: string; yanked: number }>(
      `SELECT rkey, version, yanked FROM update_release WHERE did = ? AND product = ? AND version_key < ? ORDER BY version_key DESC LIMIT ?`,
    )
    // a device's latest install record of the release (SQLite takes the bare columns from the max(rkey) row)
    this.latestPerDeviceStmt = s.prepare<[string, string], { did: string; status: string; error_code: string | null; rkey: string }>(
      `SELECT did, status, error_code, max(rkey) AS rkey FROM update_install WHERE release_did = ? AND release_rkey = ? GROUP BY did, device`,
    )
  }

  /** An account's installs (optionally of one release), per device in key order, newest first, at most `limit` per device. */
  installStatus(did: string, opts: { release?: string; limit: number }): { devices: { device: string; installs: InstallView[] }[] } {
    let rows: InstallRow[]
    if (opts.release !== undefined) {
      const parts = releaseUriParts(opts.release)
      if (!parts) throw new InvalidRequestError(`release must be the AT-URI of an ${RELEASE_COLLECTION} record`)
      rows = this.byAccountReleaseStmt.all(did, parts.did, parts.rkey)
    } else rows = this.byAccountStmt.all(did)
    const devices: { device: string; installs: InstallView[] }[] = []
    for (const r of rows) {
      let entry = devices.at(-1)
      if (entry?.device !== r.device) devices.push((entry = { device: r.device, installs: [] }))
      if (entry.installs.length >= opts.limit) continue
      entry.installs.push({
        uri: `at://${r.did}/${INSTALL_COLLECTION}/${r.rkey}`,
        cid: r.cid,
        release: { uri: `at://${r.release_did}/${RELEASE_COLLECTION}/${r.release_rkey}`, cid: r.release_cid },
        fromVersion: opt(r.from_version),
        toVersion: r.to_version,
        method: r.method,
        status: r.status,
        errorCode: opt(r.error_code),
        startedAt: opt(r.started_at),
        completedAt: opt(r.completed_at),
        updatedAt: opt(r.updated_at),
        createdAt: r.created_at,
      })
    }
    return { devices }
  }

  /**
   * Per release of the product, newest version first (after `cursor`, a version), what the
   * devices of served accounts last reported for it; `served` decides which accounts count.
   */
  adoption(
    publisher: string,
    product: string,
    opts: { limit: number; cursor?: string },
    served: (did: string) => boolean,
  ): { releases: ReleaseAdoption[]; cursor?: string } {
    const below = opts.cursor === undefined ? '\u{10FFFF}' : keyOf(opts.cursor)
    if (below === undefined) throw new InvalidRequestError('cursor must be a version from a previous page')
    const rows = this.releasesStmt.all(publisher, product, below, opts.limit + 1)
    const page = rows.slice(0, opts.limit)
    // asked once per account for the whole page: the same devices report on most releases
    const isServed = new Map<string, boolean>()
    const releases = page.map((r): ReleaseAdoption => {
      const counts = { completed: 0, failed: 0, rolledBack: 0, inProgress: 0 }
      const failures = new Map<string, number>()
      for (const i of this.latestPerDeviceStmt.all(publisher, r.rkey)) {
        let ok = isServed.get(i.did)
        if (ok === undefined) isServed.set(i.did, (ok = served(i.did)))
        if (!ok) continue
        if (i.status === 'completed') counts.completed++
        else if (i.status === 'failed') counts.failed++
        else if (i.status === 'rolledBack') counts.rolledBack++
        else counts.inProgress++
        if (i.status === 'failed' || i.status === 'rolledBack') failures.set(i.error_code ?? '', (failures.get(i.error_code ?? '') ?? 0) + 1)
      }
      return {
        uri: `at://${publisher}/${RELEASE_COLLECTION}/${r.rkey}`,
        version: r.version,
        yanked: r.yanked === 1,
        ...counts,
        failures: [...failures].map(([errorCode, devices]) => ({ errorCode, devices })).sort((a, b) => b.devices - a.devices || (a.errorCode < b.errorCode ? -1 : 1)),
      }
    })
    return { releases, cursor: rows.length > opts.limit ? page.at(-1)!.version : undefined }
  }
}
