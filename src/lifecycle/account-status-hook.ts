import type { AccountStore } from '../accounts/account-store.js'
import { assertAccountWritable } from '../accounts/status.js'
import type { CommitHook } from '../repo/types.js'

/**
 * Refuses a commit to an account that is not active, inside the commit's own transaction. The
 * handlers check first and answer the same errors (AccountDeactivated, AccountTakedown); this
 * closes the gap between that check and the write, so that a repo deactivated or taken down
 * meanwhile never gets a commit, nor the firehose a #commit for an inactive account.
 */
export function accountStatusHook(accounts: AccountStore): CommitHook {
  return {
    inTx: (commit) => {
      const account = accounts.getByDid(commit.did)
      if (account) assertAccountWritable(account)
    },
  }
}
