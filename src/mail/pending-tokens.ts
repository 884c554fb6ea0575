import { Outbox } from './outbox.js'

export type PendingToken = {
  did: string
  /** the account_token purpose: reset_password, confirm_email, update_email, delete_account, plc_operation */
  purpose: string
  /** the account's email address, where the message would have gone */
  to: string
  subject: string
  token: string
  /** ISO 8601 */
  expiresAt: string
  expired: boolean
  /** the outbox file holding the whole message */
  file: string
}

/**
 * The tokens waiting in the outbox of the data directory `dataDirectory`, for the operator to
 * pass on (`carrel email pending`): what a server with no SMTP configured did instead of mailing
 * them. Reads files only, so it works whether the server runs or not. A token leaves the outbox
 * when it is used, found expired, replaced by a newer one or mailed, or its account is deleted;
 * one that expired unseen stays listed with `expired: true` until then. Newest expiry first.
 */
export function listPendingTokens(dataDirectory: string, now = Date.now()): PendingToken[] {
  const out: PendingToken[] = []
  for (const message of new Outbox(dataDirectory).list()) {
    const { Account: did, Purpose: purpose, Token: token, Expires: expires } = message.headers
    if (!did || !purpose || !token || !expires) continue
    const expiresMs = Date.parse(expires)
    if (Number.isNaN(expiresMs)) continue
    out.push({ did, purpose, to: message.to, subject: message.subject, token, expiresAt: expires, expired: expiresMs <= now, file: message.file })
  }
  return out.sort((a, b) => b.expiresAt.localeCompare(a.expiresAt))
}
