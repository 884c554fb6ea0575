import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Preference, PreferencesStore } from '../accounts/preferences.js'

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

/*
 * app.bsky.actor.getPreferences / putPreferences, with the reference's rules: only `app.bsky`
 * preferences; personal details only with a session of the account's own password (an app
 * password, privileged or not, neither sees nor replaces them); `declaredAgePref` is worked out
 * from the birth date when read and ignored when written.
 */

/** The preferences the session may see, `declaredAgePref` worked out from the birth date. */
export function readPreferences(store: PreferencesStore, did: string, access: PreferenceAccess): Preference[] {
  const prefs = store.stored(did).filter((p) => inNamespace(p.$type))
  const age = ageOf(prefs.find((p) => p.$type === PERSONAL_DETAILS)?.birthDate)
  if (age !== undefined) {
    prefs.push({ $type: DECLARED_AGE, isOverAge13: age >= 13, isOverAge16: age >= 16, isOverAge18: age >= 18 })
  }
  return prefs.filter((p) => allowed(p.$type, access))
}

/**
 * Replaces the preferences the session may change with `prefs` (lexicon-validated JSON); those
 * it may not see stay as they are. 400 InvalidRequest for a preference outside `app.bsky` or
 * one the session may not set; nothing changes then.
 */
export function writePreferences(store: PreferencesStore, did: string, prefs: Preference[], access: PreferenceAccess): void {
  if (!prefs.every((p) => typeof p.$type === 'string' && inNamespace(p.$type))) {
    throw new InvalidRequestError(`Some preferences are not in the ${NAMESPACE} namespace`)
  }
  const forbidden = prefs.filter((p) => !allowed(p.$type, access)).map((p) => p.$type)
  if (forbidden.length > 0) {
    throw new InvalidRequestError(`Do not have authorization to set preferences: ${forbidden.join(', ')}`)
  }
  const written = prefs.filter((p) => p.$type !== DECLARED_AGE)
  store.update(did, (stored) => [...stored.filter((p) => !allowed(p.$type, access)), ...written])
}
