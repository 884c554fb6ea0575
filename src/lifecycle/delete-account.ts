import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { usableAccount } from '../accounts/status.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import type { AppPasswordStore } from '../auth/app-password-store.js'
import { MAX_PASSWORD_LENGTH } from '../auth/password.js'
import type { SessionManager } from '../auth/session-manager.js'
import type { SessionStore } from '../auth/session-store.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { Logger } from '../logger.js'
import type { BlobService } from '../repo/blob-service.js'
import type { RepoService } from '../repo/service.js'
import type { AccountMail } from '../mail/account-mail.js'
import { assertTokenValid } from './account-token-check.js'
import type { TokenMail } from './token-mail.js'

const PURPOSE = 'delete_account'

export type DeleteAccountInput = { did: string; password: string; token: string }

/**
 * requestAccountDelete / deleteAccount. The request makes a single-use token (15 minutes) and
 * mails it, or with no SMTP configured writes it to the operator's outbox
 * (`<data>/outbox/account-delete-<DID>.txt`; src/mail/). The deletion needs the account's own
 * password (through the failed-login limits) and that token, then removes in ONE transaction the
 * account row (its handle stops resolving at once), its sessions, app passwords and tokens, its
 * repo (blocks, records, root) and every commit hook's rows of that DID (blob rows, index rows),
 * appends `#account {active:false, status:"deleted"}` and empties the DID's earlier events, so
 * that nothing replays its records; blob files go after COMMIT. Nothing of another account is
 * touched.
 */
export class AccountDeleter {
  constructor(
    private d: {
      accounts: AccountStore
      sessions: SessionStore
      sessionManager: SessionManager
      appPasswords: AppPasswordStore
      accountTokens: AccountTokenStore
      tokenMail: TokenMail
      mail: AccountMail
      sequencer: Sequencer
      repo: RepoService
      blobs: BlobService
      /** stores of per-account state that no repo holds (settings, device state, takedowns) */
      privateState: { deleteAccountInTx(did: string): void }[]
      logger: Logger
    },
  ) {}

  async requestDeletion(did: string): Promise<void> {
    const account = usableAccount(this.d.accounts, did)
    await this.d.tokenMail.issue(account, PURPOSE)
  }

  /** Errors as the reference answers them; a wrong password counts as a failed login. */
  async deleteAccount(input: DeleteAccountInput, ip: string): Promise<void> {
    const { did } = input
    if (!this.d.accounts.getByDid(did)) throw new InvalidRequestError('account not found')
    if (input.password.length > MAX_PASSWORD_LENGTH) throw new InvalidRequestError('Invalid password length.')
    if (!(await this.d.sessionManager.verifyAccountPassword(did, input.password, ip))) {
      throw new AuthRequiredError('Invalid did or password')
    }
    // an expired token's message leaves the outbox too
    this.d.tokenMail.assertValid(did, PURPOSE, input.token)
    // again inside the transaction: the token is single-use, even for two requests at once
    await this.destroy(did, () => {
      if (!this.d.accounts.getByDid(did)) throw new InvalidRequestError('account not found')
      this.assertToken(did, input.token)
    })
  }

  /**
   * com.atproto.admin.deleteAccount: the same deletion, without the account holder's password or
   * token, whatever the account's status (a taken-down account's data goes now).
   */
  async deleteByAdmin(did: string): Promise<void> {
    const missing = () => new InvalidRequestError(`Account not found: ${did}`, 'AccountNotFound')
    if (!this.d.accounts.getByDid(did)) throw missing()
    await this.destroy(did, () => {
      if (!this.d.accounts.getByDid(did)) throw missing()
    })
  }

  /** `recheck` runs first inside the transaction, which it aborts by throwing. */
  private async destroy(did: string, recheck: () => void): Promise<void> {
    await this.d.repo.destroyRepo(did, () => {
      recheck()
      this.d.accounts.delete(did)
      this.d.sessions.revokeAllForDid(did)
      this.d.appPasswords.deleteAllForDid(did)
      this.d.accountTokens.deleteAllForDid(did)
      for (const store of this.d.privateState) store.deleteAccountInTx(did)
      const seq = this.d.sequencer.appendAccountInTx(did, false, 'deleted')
      this.d.sequencer.forgetAccountBeforeInTx(did, seq)
    })
    this.d.mail.accountGone(did)
    await this.d.blobs.deleteUnrecordedFiles(did)
    this.d.logger.info({ did }, 'account deleted')
  }

  private assertToken(did: string, token: string): void {
    assertTokenValid(this.d.accountTokens.check(did, PURPOSE, token))
  }
}
