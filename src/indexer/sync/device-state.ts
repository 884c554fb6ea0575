import type { Db } from '../../db/index.js'

/** What a device last reported (heartbeat): private, never in the repo. */
export type DeviceState = { lastSeenAt: string; rev?: string; appVersion?: string }

type Row = { last_seen_at: string; rev: string | null; app_version: string | null }

/** The sync_device_state table: one row per (account, device record key). */
export class DeviceStateStore {
  private getStmt
  private putStmt
  private deleteStmt
  private deleteDidStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string, string], Row>('SELECT last_seen_at, rev, app_version FROM sync_device_state WHERE did = ? AND device = ?')
    // what a heartbeat leaves out keeps its last reported value
    this.putStmt = s.prepare(
      `INSERT INTO sync_device_state (did, device, last_seen_at, rev, app_version) VALUES (@did, @device, @lastSeenAt, @rev, @appVersion)
       ON CONFLICT (did, device) DO UPDATE SET last_seen_at = excluded.last_seen_at,
         rev = coalesce(excluded.rev, sync_device_state.rev), app_version = coalesce(excluded.app_version, sync_device_state.app_version)`,
    )
    this.deleteStmt = s.prepare('DELETE FROM sync_device_state WHERE did = ? AND device = ?')
    this.deleteDidStmt = s.prepare('DELETE FROM sync_device_state WHERE did = ?')
  }

  get(did: string, device: string): DeviceState | undefined {
    const row = this.getStmt.get(did, device)
    if (!row) return undefined
    return { lastSeenAt: row.last_seen_at, rev: row.rev ?? undefined, appVersion: row.app_version ?? undefined }
  }

  put(did: string, device: string, state: DeviceState): void {
    this.putStmt.run({ did, device, lastSeenAt: state.lastSeenAt, rev: state.rev ?? null, appVersion: state.appVersion ?? null })
  }

  /** inside the commit that deletes the device's record */
  deleteInTx(did: string, device: string): void {
    this.deleteStmt.run(did, device)
  }

  deleteRepoInTx(did: string): void {
    this.deleteDidStmt.run(did)
  }
}
