import { lexToJson, type LexValue } from '@atproto/lexicon'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../../db/index.js'

/** Largest settings document, as JSON bytes: settings are a few dozen values, read on every start of the app. */
const SETTINGS_MAX_BYTES = 64 * 1024

/** An account's settings and their version: 0 and `{}` until the first write, then 1, 2, ... */
export type SettingsDoc = { version: number; settings: Record<string, unknown> }

/**
 * putSettings against a version that is no longer current. The error body carries the current
 * document (`version`, `settings`) beside `error` and `message`, so that a client can merge
 * without another request.
 */
class SettingsSwapError extends InvalidRequestError {
  constructor(readonly current: SettingsDoc) {
    super(`Settings are at version ${current.version}`, 'InvalidSwap')
  }

  override get payload() {
    return { ...super.payload, version: this.current.version, settings: this.current.settings }
  }
}

/** The sync_settings table: one private, versioned JSON document per account. */
export class SettingsStore {
  private getStmt
  private insertStmt
  private updateStmt
  private deleteStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string], { version: number; settings: string }>('SELECT version, settings FROM sync_settings WHERE did = ?')
    this.insertStmt = s.prepare('INSERT OR IGNORE INTO sync_settings (did, version, settings, updated_at) VALUES (?, 1, ?, ?)')
    this.updateStmt = s.prepare(
      'UPDATE sync_settings SET version = version + 1, settings = ?, updated_at = ? WHERE did = ? AND version = ?',
    )
    this.deleteStmt = s.prepare('DELETE FROM sync_settings WHERE did = ?')
  }

  get(did: string): SettingsDoc {
    const row = this.getStmt.get(did)
    if (!row) return { version: 0, settings: {} }
    return { version: row.version, settings: JSON.parse(row.settings) as Record<string, unknown> }
  }

  /**
   * Replaces the document if it is still at `version` (compare-and-swap); else SettingsSwapError
   * with the current one. `settings` is the lexicon-validated input (atproto data).
   */
  put(did: string, version: number, settings: Record<string, unknown>): SettingsDoc {
    const json = JSON.stringify(lexToJson(settings as LexValue))
    const size = Buffer.byteLength(json)
    if (size > SETTINGS_MAX_BYTES) {
      throw new InvalidRequestError(`Settings are ${size} bytes as JSON; at most ${SETTINGS_MAX_BYTES} are kept`, 'SettingsTooLarge')
    }
    const now = new Date().toISOString()
    const written = version === 0 ? this.insertStmt.run(did, json, now) : this.updateStmt.run(json, now, did, version)
    if (written.changes === 0) throw new SettingsSwapError(this.get(did))
    return { version: version + 1, settings: JSON.parse(json) as Record<string, unknown> }
  }

  deleteRepoInTx(did: string): void {
    this.deleteStmt.run(did)
  }
}
