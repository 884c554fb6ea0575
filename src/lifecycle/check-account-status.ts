import { InvalidRequestError } from '@atproto/xrpc-server'
import type { PreferencesStore } from '../accounts/preferences.js'
import type { AccountStore } from '../accounts/account-store.js'
import type { BlobService } from '../repo/blob-service.js'
import { isDidDocForService, type DidDocCheckDeps } from './did-doc-check.js'

export type AccountStatusReport = {
  activated: boolean
  validDid: boolean
  repoCommit: string
  repoRev: string
  repoBlocks: number
  indexedRecords: number
  privateStateValues: number
  expectedBlobs: number
  importedBlobs: number
}

/**
 * checkAccountStatus: what an account migrating in (or being recovered) has so far. `validDid`
 * is activateAccount's DID document check; `expectedBlobs` counts the distinct blobs its records
 * reference and `importedBlobs` those of them that are stored (what listMissingBlobs lists is
 * the difference). `privateStateValues` counts the account's preferences, as the reference counts them.
 */
export async function checkAccountStatus(
  d: DidDocCheckDeps & { accounts: AccountStore; blobs: BlobService; preferences: PreferencesStore },
  did: string,
): Promise<AccountStatusReport> {
  const account = d.accounts.getByDid(did)
  if (!account) throw new InvalidRequestError('Account not found', 'AccountNotFound')
  const root = d.repo.roots.get(did)
  if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
  return {
    activated: !account.deactivated_at,
    validDid: await isDidDocForService(d, did),
    repoCommit: root.cid,
    repoRev: root.rev,
    repoBlocks: d.repo.blocks.count(did),
    indexedRecords: d.repo.records.count(did),
    privateStateValues: d.preferences.count(did),
    expectedBlobs: d.blobs.table.countReferenced(did),
    importedBlobs: d.blobs.table.countReferencedStored(did),
  }
}
