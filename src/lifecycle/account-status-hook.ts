import type { AccountStore } from '../accounts/account-store.js'
import { assertAccountWritable } from '../accounts/status.js'
import type { CommitHook } from '../repo/types.js'

/**
 * Refuses a commit to an account that is not active, inside the commit's own transaction. The
 * handlers check first and answer the same errors (AccountDeactivated, AccountTakedown); this
 * closes the gap between that check and the write, so that a repo deactivated or taken down
 * meanwhile never gets a commit, nor the firehose a #commit for an inactive account. An import
 * is not a write of this kind: it sends no #commit, goes to accounts arriving deactivated by
 * migration, and checks the account's status in its own transaction (src/lifecycle/import-repo.ts).
 */
export function accountStatusHook(accounts: AccountStore): CommitHook {
  return {
    inTx: (commit) => {
      if (commit.imported) return
      const account = accounts.getByDid(commit.did)
      if (account) assertAccountWritable(account)
    },
  }
}
