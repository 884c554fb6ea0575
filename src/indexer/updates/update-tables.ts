import type { Db } from '../../db/index.js'
import type { InstallEntry, ReleaseEntry } from './update-entry.js'

/** The derived update tables (migrations/008_updates.ts); update_rollout_key is not one of them. */
const UPDATE_TABLES = ['update_release', 'update_artifact', 'update_delta', 'update_install'] as const

/** The SQL that changes the update tables, one record at a time, inside the caller's transaction. */
export class UpdateTables {
  private insertRelease
  private insertArtifact
  private insertDelta
  private insertInstall
  private removeReleaseStmts
  private removeInstallStmt
  private removeRepoStmts
  private clearStmts

  constructor(db: Db) {
    const s = db.sqlite
    this.insertRelease = s.prepare(
      `INSERT INTO update_release (did, rkey, cid, product, version, version_key, prerelease, channel, update_type, priority,
         rollout_percent, rollback_supported, yanked, yank_reason, published_at, changelog)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.insertArtifact = s.prepare(
      'INSERT INTO update_artifact (did, rkey, platform, arch, cid, sha256, size, file_name, min_os_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    this.insertDelta = s.prepare(
      'INSERT INTO update_delta (did, rkey, from_version, platform, arch, format, cid, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    )
    this.insertInstall = s.prepare(
      `INSERT INTO update_install (did, rkey, cid, release_did, release_rkey, release_cid, product, device, from_version, to_version,
         method, status, error_code, started_at, completed_at, updated_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.removeReleaseStmts = ['update_release', 'update_artifact', 'update_delta'].map((t) => s.prepare(`DELETE FROM ${t} WHERE did = ? AND rkey = ?`))
    this.removeInstallStmt = s.prepare('DELETE FROM update_install WHERE did = ? AND rkey = ?')
    this.removeRepoStmts = UPDATE_TABLES.map((t) => s.prepare(`DELETE FROM ${t} WHERE did = ?`))
    this.clearStmts = UPDATE_TABLES.map((t) => s.prepare(`DELETE FROM ${t}`))
  }

  addRelease(e: ReleaseEntry): void {
    this.insertRelease.run(
      e.did,
      e.rkey,
      e.cid,
      e.product,
      e.version,
      e.versionKey,
      e.prerelease ? 1 : 0,
      e.channel,
      e.updateType,
      e.priority,
      e.rolloutPercent,
      e.rollbackSupported ? 1 : 0,
      e.yanked ? 1 : 0,
      e.yankReason,
      e.publishedAt,
      e.changelog,
    )
    for (const a of e.artifacts) this.insertArtifact.run(e.did, e.rkey, a.platform, a.arch, a.cid, a.sha256, a.size, a.fileName, a.minOsVersion)
    for (const d of e.deltas) this.insertDelta.run(e.did, e.rkey, d.fromVersion, d.platform, d.arch, d.format, d.cid, d.sha256, d.size)
  }

  removeRelease(did: string, rkey: string): void {
    for (const stmt of this.removeReleaseStmts) stmt.run(did, rkey)
  }

  addInstall(e: InstallEntry): void {
    this.insertInstall.run(
      e.did,
      e.rkey,
      e.cid,
      e.releaseDid,
      e.releaseRkey,
      e.releaseCid,
      e.product,
      e.device,
      e.fromVersion,
      e.toVersion,
      e.method,
      e.status,
      e.errorCode,
      e.startedAt,
      e.completedAt,
      e.updatedAt,
      e.createdAt,
    )
  }

  removeInstall(did: string, rkey: string): void {
    this.removeInstallStmt.run(did, rkey)
  }

  /** Every row of `did`'s records (its releases, and its devices' installs); other accounts' installs of its releases stay. */
  removeRepo(did: string): void {
    for (const stmt of this.removeRepoStmts) stmt.run(did)
  }

  clear(): void {
    for (const stmt of this.clearStmts) stmt.run()
  }
}
