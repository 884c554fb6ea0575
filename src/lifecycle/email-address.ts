import { InvalidRequestError } from '@atproto/xrpc-server'

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** An email address as accounts keep it (trimmed, lower case), or InvalidRequest. */
export function normalizedEmail(raw: string | undefined): string {
  const email = (raw ?? '').trim().toLowerCase()
  if (!email) throw new InvalidRequestError('Email is required')
  if (email.length > 254 || !EMAIL_RE.test(email)) throw new InvalidRequestError('Email address is not valid')
  return email
}

/** A UNIQUE violation on the account's email column (another account has the address). */
export function isEmailTaken(err: unknown): boolean {
  const e = err as { code?: string; message?: string }
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes('account.email')
}
