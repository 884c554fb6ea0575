import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { hashPassword } from '../auth/password.js'
import type { SessionStore } from '../auth/session-store.js'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { checkedNewPassword } from './account-fields.js'
import type { TokenMail } from './token-mail.js'

const PURPOSE = 'reset_password'

export type ResetPasswordInput = { token: string; password: string }

/**
 * requestPasswordReset / resetPassword, as the reference PDS: the request names the account by
 * its email address (an address no account has is 400 "account does not have an email address",
 * the reference's answer) and mails a single-use token, good for 15 minutes; the reset takes
 * only that token and the new password. In one transaction the password changes, the token is
 * used up and every refresh token of the account is revoked, so that every session has to log in
 * again (app passwords stay, as in the reference). Taken-down and deactivated accounts may reset
 * too (the reference lets them: their holder may need the password to move away).
 */
export class PasswordReset {
  constructor(
    private d: {
      db: Db
      accounts: AccountStore
      sessions: SessionStore
      tokenMail: TokenMail
      logger: Logger
    },
  ) {}

  async request(email: string): Promise<void> {
    const account = this.d.accounts.getByEmail(email.trim().toLowerCase())
    if (!account) throw new InvalidRequestError('account does not have an email address')
    await this.d.tokenMail.issue(account, PURPOSE)
  }

  async reset(input: ResetPasswordInput): Promise<void> {
    const password = checkedNewPassword(input.password)
    const did = this.d.tokenMail.assertFound(PURPOSE, input.token)
    const passwordHash = await hashPassword(password)
    this.d.db.sqlite
      .transaction(() => {
        // again inside the transaction: single-use, even for two requests at once
        this.d.tokenMail.useUp(did, PURPOSE, input.token)
        if (!this.d.accounts.getByDid(did)) throw new InvalidRequestError('Token is invalid', 'InvalidToken')
        this.d.accounts.setPasswordHash(did, passwordHash)
        this.d.sessions.revokeAllForDid(did)
      })
      .immediate()
    this.d.tokenMail.used(PURPOSE, did)
    this.d.logger.info({ did }, 'password reset; every session of the account ended')
  }
}
