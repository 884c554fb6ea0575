import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { assertNotTakenDown } from '../accounts/status.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { Logger } from '../logger.js'
import { writeTransaction } from '../repo/transaction.js'

/**
 * deactivateAccount: the account stops being served (sync API, repo reads, blobs) and takes no
 * writes, but its owner can still log in and reactivate. The flag and the `#account
 * {active:false, status:"deactivated"}` event are written together. `deleteAfter` is kept as the
 * lexicon's recommendation; nothing deletes the account on its own yet.
 */
export class AccountDeactivator {
  constructor(
    private d: {
      db: Db
      accounts: AccountStore
      sequencer: Sequencer
      logger: Logger
    },
  ) {}

  deactivate(did: string, deleteAfter: string | null): void {
    writeTransaction(this.d.db, this.d.sequencer, () => {
      const account = this.d.accounts.getByDid(did)
      if (!account) throw new InvalidRequestError('Account not found', 'AccountNotFound')
      assertNotTakenDown(account)
      // deactivating again keeps the first date, takes the new deleteAfter, and says so again
      this.d.accounts.setDeactivated(did, account.deactivated_at ?? new Date().toISOString(), deleteAfter)
      this.d.sequencer.appendAccountInTx(did, false, 'deactivated')
    })
    this.d.logger.info({ did }, 'account deactivated')
  }
}
