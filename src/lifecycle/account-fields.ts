import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/password.js'

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** An account's email as it is stored (trimmed, lowercase), or InvalidRequest. */
export function checkedEmail(input: string | undefined): string {
  const email = (input ?? '').trim().toLowerCase()
  if (!email) throw new InvalidRequestError('Email is required')
  if (email.length > 254 || !EMAIL_RE.test(email)) throw new InvalidRequestError('Email address is not valid')
  return email
}

/** A new account password within the length rules, or InvalidRequest. */
export function checkedNewPassword(input: string | undefined): string {
  const password = input ?? ''
  if (!password) throw new InvalidRequestError('Password is required')
  if (password.length < MIN_PASSWORD_LENGTH) throw new InvalidRequestError(`Password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidRequestError('Password is too long')
  return password
}

export function isUniqueViolation(err: unknown, column: string): boolean {
  const e = err as { code?: string; message?: string }
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes(column)
}

/**
 * Inside a write transaction: the account's new address (unconfirmed), and every token mailed
 * to the old one withdrawn; an address another account has is 400 InvalidRequest `takenMessage`.
 */
export function replaceEmailInTx(d: { accounts: AccountStore; tokens: AccountTokenStore }, did: string, email: string, takenMessage: string): void {
  try {
    d.accounts.setEmail(did, email)
  } catch (err) {
    if (isUniqueViolation(err, 'account.email')) throw new InvalidRequestError(takenMessage)
    throw err
  }
  d.tokens.deleteAllForDid(did)
}
