import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { usableAccount } from '../accounts/status.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { checkedEmail, replaceEmailInTx } from './account-fields.js'
import type { TokenMail } from './token-mail.js'

export type ConfirmEmailInput = { email: string; token: string }
export type UpdateEmailInput = { email: string; token?: string; emailAuthFactor?: boolean }

const EMAIL_TAKEN = 'This email address is already in use, please use a different email.'

/**
 * The account's email address: confirming it (requestEmailConfirmation / confirmEmail) and
 * changing it (requestEmailUpdate / updateEmail), as the reference PDS does. A confirmed address
 * is changed only with a token mailed to it; a new address starts unconfirmed, and every token
 * sent to the old one stops working. Deactivated accounts may do all of it; taken-down ones
 * none (AccountTakedown). `emailAuthFactor` (a sign-in code by mail) is not offered, as the
 * reference PDS does not offer it without an entryway: it is ignored and getSession does not
 * claim it.
 */
export class AccountEmail {
  constructor(
    private d: {
      db: Db
      accounts: AccountStore
      tokens: AccountTokenStore
      tokenMail: TokenMail
      logger: Logger
    },
  ) {}

  async requestConfirmation(did: string): Promise<void> {
    const account = this.account(did)
    await this.d.tokenMail.issue(account, 'confirm_email')
  }

  /** The address must be the account's current one; the token is used up. */
  confirm(did: string, input: ConfirmEmailInput): void {
    const account = this.account(did)
    if (account.email !== input.email.trim().toLowerCase()) throw new InvalidRequestError('invalid email', 'InvalidEmail')
    this.d.tokenMail.assertValid(did, 'confirm_email', input.token)
    this.d.db.sqlite
      .transaction(() => {
        // again inside the transaction: the token is single-use even for two requests at once
        this.d.tokenMail.useUp(did, 'confirm_email', input.token)
        const now = this.account(did)
        if (now.email !== account.email) throw new InvalidRequestError('invalid email', 'InvalidEmail')
        this.d.accounts.setEmailConfirmed(did, new Date().toISOString())
      })
      .immediate()
    this.d.tokenMail.used('confirm_email', did)
    this.d.logger.info({ did }, 'email confirmed')
  }

  /** A token is needed (and mailed to the current address) only when that address is confirmed. */
  async requestUpdate(did: string): Promise<{ tokenRequired: boolean }> {
    const account = this.account(did)
    const tokenRequired = account.email_confirmed_at !== null
    if (tokenRequired) await this.d.tokenMail.issue(account, 'update_email')
    return { tokenRequired }
  }

  update(did: string, input: UpdateEmailInput): void {
    const email = checkedEmail(input.email)
    const account = this.account(did)
    const tokenRequired = account.email_confirmed_at !== null
    if (tokenRequired) {
      if (!input.token) throw new InvalidRequestError('confirmation token required', 'TokenRequired')
      this.d.tokenMail.assertValid(did, 'update_email', input.token)
    }
    if (email === account.email && !tokenRequired) return
    this.d.db.sqlite
      .transaction(() => {
        if (tokenRequired) this.d.tokenMail.useUp(did, 'update_email', input.token!)
        if (email === account.email) return
        replaceEmailInTx(this.d, did, email, EMAIL_TAKEN)
      })
      .immediate()
    if (email === account.email) {
      this.d.tokenMail.used('update_email', did)
      return
    }
    this.d.tokenMail.allWithdrawn(did)
    this.d.logger.info({ did }, 'email address changed')
  }

  private account(did: string): AccountRow {
    return usableAccount(this.d.accounts, did)
  }
}
