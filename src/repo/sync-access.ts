import { InvalidRequestError } from '@atproto/xrpc-server'
import { accountStatus, type AccountStore } from '../auth/account-store.js'

/**
 * Sync reads (getRepo, getRecord, getBlob, getBlocks, getLatestCommit, listBlobs) serve only
 * hosted, active repos: RepoNotFound, RepoTakendown, RepoSuspended or RepoDeactivated otherwise.
 */
export function assertRepoAvailable(accounts: AccountStore, did: string): void {
  const account = accounts.getByDid(did)
  if (!account) throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  const status = accountStatus(account)
  if (status.active) return
  switch (status.status) {
    case 'takendown':
      throw new InvalidRequestError(`Repo has been taken down: ${did}`, 'RepoTakendown')
    case 'suspended':
      throw new InvalidRequestError(`Repo has been suspended: ${did}`, 'RepoSuspended')
    case 'deactivated':
      throw new InvalidRequestError(`Repo has been deactivated: ${did}`, 'RepoDeactivated')
    default:
      throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  }
}
