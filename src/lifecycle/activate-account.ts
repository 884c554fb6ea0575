import type { AccountStore } from '../accounts/account-store.js'
import { usableAccount } from '../accounts/status.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { Logger } from '../logger.js'
import { writeTransaction } from '../repo/transaction.js'
import { announceActiveInTx } from './announce-active.js'
import { assertDidDocForService, type DidDocCheckDeps } from './did-doc-check.js'

/**
 * activateAccount: once the DID document names this server, its signing key and (did:plc) our
 * rotation key, the account is served again. One transaction clears the flag and appends, in the
 * order of the account-lifecycle guide, `#identity` (with the handle), `#account {active:true}`
 * and a `#sync` for the current commit, so that a relay re-reads the identity and takes the
 * repo's current state (what an account arriving by migration needs; the reference sends the
 * same three, #account first). Activating an active account announces it again.
 */
export class AccountActivator {
  constructor(
    private d: DidDocCheckDeps & {
      db: Db
      accounts: AccountStore
      sequencer: Sequencer
      logger: Logger
    },
  ) {}

  async activate(did: string): Promise<void> {
    usableAccount(this.d.accounts, did)
    await assertDidDocForService(this.d, did)
    writeTransaction(this.d.db, this.d.sequencer, () => {
      // again inside the transaction: it may have been deleted or taken down while we read PLC
      const account = usableAccount(this.d.accounts, did)
      this.d.accounts.setDeactivated(did, null)
      announceActiveInTx(this.d, did, account.handle)
    })
    this.d.logger.info({ did }, 'account activated')
  }
}
