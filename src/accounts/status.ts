import { AuthRequiredError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from './account-store.js'
import type { TakedownStore } from './takedown-store.js'

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
 * RepoDeactivated otherwise. `repo` is what the caller named (a DID or a handle). Within a
 * served repo, records and blobs the host took down are not served either (below).
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

/**
 * Whether this server answers for a hosted account's handle (/.well-known/atproto-did,
 * resolveHandle): not while it is taken down, as the reference stops resolving it. A deactivated
 * account's handle still resolves: it is paused, or moving away and still named by its DID document.
 */
export function handleServed(account: Pick<AccountRow, 'takedown_ref'> | undefined): boolean {
  return account !== undefined && !account.takedown_ref
}

/** `assertServed` for a repo named by its DID (the sync API). */
export function assertRepoServed(accounts: AccountStore, did: string): AccountRow {
  return assertServed(accounts.getByDid(did), did)
}

/**
 * `assertRepoServed`, except for the account itself and the host's admin (`ownerOrAdmin`): they
 * may read a hosted repo that is not served (taken down, deactivated), as the reference lets
 * them, so that its owner can still export it and move away.
 */
export function assertRepoReadable(accounts: AccountStore, did: string, ownerOrAdmin: boolean): AccountRow {
  if (!ownerOrAdmin) return assertRepoServed(accounts, did)
  const account = accounts.getByDid(did)
  if (!account) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
  return account
}

/**
 * A record of a served repo is served unless the host took it down: RecordNotFound, as for a
 * record that is not there (repo.getRecord, sync.getRecord). The CAR exports (getRepo,
 * getBlocks) keep it, as the reference does: it is part of the signed tree, and an account
 * moving away needs every block of its repo (an import refuses a tree with a record missing).
 */
export function assertRecordServed(takedowns: TakedownStore, did: string, collection: string, rkey: string): void {
  if (takedowns.record(did, collection, rkey)) {
    throw new InvalidRequestError(`Could not locate record: at://${did}/${collection}/${rkey}`, 'RecordNotFound')
  }
}

/**
 * For listings (listRecords, the derived views that hold record values): whether a record of
 * `did` may be served. One read of the repo's takedowns (almost always none) per listing.
 */
export function servedRecordFilter(takedowns: TakedownStore, did: string): (collection: string, rkey: string) => boolean {
  const hidden = takedowns.recordPathsOf(did)
  if (hidden.length === 0) return () => true
  const set = new Set(hidden)
  return (collection, rkey) => !set.has(`${collection}/${rkey}`)
}

/** A blob of a served repo is served unless the host took it down: BlobNotFound, as for one not stored. */
export function assertBlobServed(takedowns: TakedownStore, did: string, cid: string): void {
  if (takedowns.blob(did, cid)) throw new InvalidRequestError(`Blob not found: ${cid}`, 'BlobNotFound')
}

/** Writes go only to an active account's repo: AccountTakedown or AccountDeactivated otherwise. */
export function assertAccountWritable(account: AccountRow): void {
  if (accountStatus(account).active) return
  assertNotTakenDown(account)
  throw new InvalidRequestError('Account is deactivated', 'AccountDeactivated')
}

/** What the account holder may still do while deactivated, not while taken down: AccountTakedown. */
export function assertNotTakenDown(account: Pick<AccountRow, 'deactivated_at' | 'takedown_ref'>): void {
  if (accountStatus(account).status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
}

/** An account here that is not taken down: AccountNotFound or AccountTakedown otherwise. */
export function usableAccount(accounts: AccountStore, did: string): AccountRow {
  const account = accounts.getByDid(did)
  if (!account) throw new InvalidRequestError('Account not found', 'AccountNotFound')
  assertNotTakenDown(account)
  return account
}
