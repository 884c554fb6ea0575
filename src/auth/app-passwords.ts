import { randomBytes } from 'node:crypto'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { usableAccount } from '../accounts/status.js'
import { AppPasswordStore, hashAppPassword, newAppPasswordSecret } from './app-password-store.js'

/** Longest app password name: it is a label shown in lists, not a document. */
export const MAX_APP_PASSWORD_NAME_LENGTH = 100

export type CreatedAppPassword = { name: string; password: string; createdAt: string; privileged: boolean }
export type ListedAppPassword = { name: string; createdAt: string; privileged: boolean }

/**
 * createAppPassword / listAppPasswords / revokeAppPassword for the account's own session. The
 * secret is shown once, at creation; only its hash is kept. Revoking ends the sessions made with
 * it at once (their refresh tokens are deleted with it; AuthVerifier checks access tokens).
 */
export class AppPasswords {
  constructor(
    private d: {
      store: AppPasswordStore
      accounts: AccountStore
    },
  ) {}

  create(did: string, name: string, privileged: boolean): CreatedAppPassword {
    usableAccount(this.d.accounts, did)
    const label = name.trim()
    if (!label) throw new InvalidRequestError('An app password needs a name')
    if (label.length > MAX_APP_PASSWORD_NAME_LENGTH) {
      throw new InvalidRequestError(`App password names are at most ${MAX_APP_PASSWORD_NAME_LENGTH} characters`)
    }
    const password = newAppPasswordSecret()
    const createdAt = new Date().toISOString()
    const stored = this.d.store.insert({
      id: randomBytes(16).toString('base64url'),
      did,
      name: label,
      password_hash: hashAppPassword(did, password),
      privileged: privileged ? 1 : 0,
      created_at: createdAt,
    })
    if (!stored) throw new InvalidRequestError(`An app password named "${label}" already exists`)
    return { name: label, password, createdAt, privileged }
  }

  list(did: string): ListedAppPassword[] {
    usableAccount(this.d.accounts, did)
    return this.d.store.list(did).map((r) => ({ name: r.name, createdAt: r.created_at, privileged: r.privileged === 1 }))
  }

  /** Revoking a name that does not exist is not an error (as in the reference). */
  revoke(did: string, name: string): void {
    usableAccount(this.d.accounts, did)
    this.d.store.revoke(did, name.trim())
  }
}
