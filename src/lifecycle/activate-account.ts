import { parseCid } from '@atproto/lex-data'
import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { accountStatus } from '../accounts/status.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { Logger } from '../logger.js'
import { encodeCar } from '../repo/car.js'
import { writeTransaction } from '../repo/transaction.js'
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
    this.usable(did)
    await assertDidDocForService(this.d, did)
    writeTransaction(this.d.db, this.d.sequencer, () => {
      // again inside the transaction: it may have been deleted or taken down while we read PLC
      const account = this.usable(did)
      const root = this.d.repo.roots.get(did)
      if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
      const commitBytes = this.d.repo.storage(did).getBytesSync(root.cid)
      if (!commitBytes) throw new Error(`commit block ${root.cid} of ${did} is missing`)
      this.d.accounts.setDeactivated(did, null)
      this.d.sequencer.appendIdentityInTx(did, account.handle)
      this.d.sequencer.appendAccountInTx(did, true)
      this.d.sequencer.appendSyncInTx(did, root.rev, encodeCar(parseCid(root.cid), [[root.cid, commitBytes]]))
    })
    this.d.logger.info({ did }, 'account activated')
  }

  private usable(did: string) {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError('Account not found', 'AccountNotFound')
    if (accountStatus(account).status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    return account
  }
}
