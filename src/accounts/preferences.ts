import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../db/index.js'

/** One preference: an object of a `$type` (app.bsky.actor.defs#...). */
export type Preference = Record<string, unknown> & { $type: string }

/** What the session may see and change: `full` is a session of the account's own password. */
export type PreferenceAccess = { full: boolean }

const NAMESPACE = 'app.bsky'
/** personal details (birth date): only for a session of the account's own password, as the reference keeps them */
const PERSONAL_DETAILS = 'app.bsky.actor.defs#personalDetailsPref'
/** derived from the birth date on every read; never stored */
const DECLARED_AGE = 'app.bsky.actor.defs#declaredAgePref'

function inNamespace(type: string): boolean {
  return type === NAMESPACE || type.startsWith(`${NAMESPACE}.`)
}

function allowed(type: string, access: PreferenceAccess): boolean {
  return access.full || type !== PERSONAL_DETAILS
}

/** Whole years from a birth date to now (UTC), or undefined for a date that does not parse. */
function ageOf(birthDate: unknown, now = new Date()): number | undefined {
  if (typeof birthDate !== 'string') return undefined
  const born = new Date(birthDate)
  if (Number.isNaN(born.getTime())) return undefined
  let age = now.getUTCFullYear() - born.getUTCFullYear()
  const month = now.getUTCMonth() - born.getUTCMonth()
  if (month < 0 || (month === 0 && now.getUTCDate() < born.getUTCDate())) age--
  return age
}

/**
 * app.bsky.actor.getPreferences / putPreferences: each account's Bluesky preferences, private
 * (never in the repo), one JSON array per account in `account_preferences`, in the order they
 * were put. The reference's rules: only `app.bsky` preferences; personal details only with a
 * session of the account's own password (an app password, privileged or not, neither sees
 * nor replaces them); `declaredAgePref` is worked out from the birth date when read and
 * ignored when written.
 */
export class PreferencesStore {
  private getStmt
  private putStmt
  private deleteStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string], string>('SELECT preferences FROM account_preferences WHERE did = ?').pluck()
    this.putStmt = s.prepare(
      `INSERT INTO account_preferences (did, preferences, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (did) DO UPDATE SET preferences = excluded.preferences, updated_at = excluded.updated_at`,
    )
    this.deleteStmt = s.prepare<[string]>('DELETE FROM account_preferences WHERE did = ?')
  }

  private stored(did: string): Preference[] {
    const json = this.getStmt.get(did)
    return json === undefined ? [] : (JSON.parse(json) as Preference[])
  }

  get(did: string, access: PreferenceAccess): Preference[] {
    const prefs = this.stored(did).filter((p) => inNamespace(p.$type))
    const age = ageOf(prefs.find((p) => p.$type === PERSONAL_DETAILS)?.birthDate)
    if (age !== undefined) {
      prefs.push({ $type: DECLARED_AGE, isOverAge13: age >= 13, isOverAge16: age >= 16, isOverAge18: age >= 18 })
    }
    return prefs.filter((p) => allowed(p.$type, access))
  }

  /**
   * Replaces the preferences the session may change with `prefs` (lexicon-validated JSON);
   * those it may not see stay as they are. 400 InvalidRequest for a preference outside
   * `app.bsky` or one the session may not set; nothing changes then.
   */
  put(did: string, prefs: Preference[], access: PreferenceAccess): void {
    if (!prefs.every((p) => typeof p.$type === 'string' && inNamespace(p.$type))) {
      throw new InvalidRequestError(`Some preferences are not in the ${NAMESPACE} namespace`)
    }
    const forbidden = prefs.filter((p) => !allowed(p.$type, access)).map((p) => p.$type)
    if (forbidden.length > 0) {
      throw new InvalidRequestError(`Do not have authorization to set preferences: ${forbidden.join(', ')}`)
    }
    // IMMEDIATE: it reads the stored preferences before it writes (see repo/transaction.ts)
    this.db.sqlite
      .transaction(() => {
        const kept = this.stored(did).filter((p) => !allowed(p.$type, access))
        const written = prefs.filter((p) => p.$type !== DECLARED_AGE)
        this.putStmt.run(did, JSON.stringify([...kept, ...written]), new Date().toISOString())
      })
      .immediate()
  }

  /** How many preferences the account keeps here (checkAccountStatus's privateStateValues). */
  count(did: string): number {
    return this.stored(did).length
  }

  /** The account is deleted (AccountDeleter's private state). */
  deleteAccountInTx(did: string): void {
    this.deleteStmt.run(did)
  }
}
