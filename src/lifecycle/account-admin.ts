import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import { hashPassword } from '../auth/password.js'
import type { SessionStore } from '../auth/session-store.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { Logger } from '../logger.js'
import { writeTransaction } from '../repo/transaction.js'
import { checkedEmail, checkedNewPassword, replaceEmailInTx } from './account-fields.js'
import type { AccountMail } from '../mail/account-mail.js'

/**
 * The admin's changes to an account's credentials (com.atproto.admin.updateAccountEmail /
 * updateAccountPassword), with the rules a new account's email and password follow.
 */
export class AccountAdmin {
  constructor(
    private d: {
      db: Db
      accounts: AccountStore
      sessions: SessionStore
      accountTokens: AccountTokenStore
      mail: AccountMail
      sequencer: Sequencer
      logger: Logger
    },
  ) {}

  /**
   * `account`: a handle or DID. The tokens the account holder was sent (account deletion, PLC
   * operations) went to the old address and stop working, as the reference drops them.
   */
  updateEmail(account: string, email: string): void {
    const did = this.account(account).did
    const checked = checkedEmail(email)
    writeTransaction(this.d.db, this.d.sequencer, () => {
      if (!this.d.accounts.getByDid(did)) throw new InvalidRequestError(`Account not found: ${account}`, 'AccountNotFound')
      replaceEmailInTx({ accounts: this.d.accounts, tokens: this.d.accountTokens }, did, checked, 'Email already taken')
    })
    this.d.mail.tokensWithdrawn(did)
    this.d.logger.info({ did }, 'account email changed by the admin')
  }

  /**
   * The new password works at once; every session of the account ends (its refresh tokens,
   * those of its app passwords' sessions too), as the reference ends them, and so do the access
   * tokens issued before (AccountStore.setPasswordHash); app passwords are kept.
   */
  async updatePassword(did: string, password: string): Promise<void> {
    this.account(did)
    const hash = await hashPassword(checkedNewPassword(password))
    writeTransaction(this.d.db, this.d.sequencer, () => {
      if (!this.d.accounts.getByDid(did)) throw new InvalidRequestError(`Account not found: ${did}`, 'AccountNotFound')
      this.d.accounts.setPasswordHash(did, hash)
      this.d.sessions.revokeAllForDid(did)
    })
    this.d.logger.info({ did }, 'account password changed by the admin')
  }

  private account(identifier: string): AccountRow {
    const account = this.d.accounts.resolveRepo(identifier)
    if (!account) throw new InvalidRequestError(`Account not found: ${identifier}`, 'AccountNotFound')
    return account
  }
}
