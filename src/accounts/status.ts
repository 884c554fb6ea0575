import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from './account-store.js'

export type AccountStatus = { active: boolean; status?: 'takendown' | 'suspended' | 'deactivated' | 'deleted' }

/** An account's status as the sync API and the firehose state it (no row: deleted). */
export function accountStatus(row: Pick<AccountRow, 'deactivated_at' | 'takedown_ref'> | undefined): AccountStatus {
  if (!row) return { active: false, status: 'deleted' }
  if (row.takedown_ref) return { active: false, status: 'takendown' }
  if (row.deactivated_at) return { active: false, status: 'deactivated' }
  return { active: true }
}

/**
 * The one place that decides whether a repo is served. Repo and sync reads (repo.getRecord,
 * listRecords, describeRepo; sync getRepo, getRecord, getBlob, getBlocks, getLatestCommit,
 * listBlobs) serve only hosted, active repos: RepoNotFound, RepoTakendown, RepoSuspended or
 * RepoDeactivated otherwise. `repo` is what the caller named (a DID or a handle).
 */
export function assertServed(account: AccountRow | undefined, repo: string): AccountRow {
  if (!account) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
  const status = accountStatus(account)
  if (status.active) return account
  switch (status.status) {
    case 'takendown':
      throw new InvalidRequestError(`Repo has been taken down: ${repo}`, 'RepoTakendown')
    case 'suspended':
      throw new InvalidRequestError(`Repo has been suspended: ${repo}`, 'RepoSuspended')
    case 'deactivated':
      throw new InvalidRequestError(`Repo has been deactivated: ${repo}`, 'RepoDeactivated')
    default:
      throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
  }
}

/** `assertServed` for a repo named by its DID (the sync API). */
export function assertRepoServed(accounts: AccountStore, did: string): AccountRow {
  return assertServed(accounts.getByDid(did), did)
}

/** Writes go only to an active account's repo: AccountTakedown or AccountDeactivated otherwise. */
export function assertAccountWritable(account: AccountRow): void {
  const status = accountStatus(account)
  if (status.active) return
  if (status.status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
  throw new InvalidRequestError('Account is deactivated', 'AccountDeactivated')
}
