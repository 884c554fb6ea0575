import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import { accountStatus, usableAccount } from '../accounts/status.js'
import { atprotoSigningKey } from '../identity/atproto-signing-key.js'
import type { IdentityService } from '../identity/service.js'
import type { Logger } from '../logger.js'
import type { RepoImporter } from '../repo/repo-import.js'

/**
 * com.atproto.repo.importRepo for an account here: typically one arriving by migration
 * (deactivated, its DID document still naming its old server and key), also an active account
 * restoring an export. The repo's commit must be signed with the `#atproto` key its DID document
 * names now. The account's status is checked again inside the replacing transaction (deleted or
 * taken down meanwhile: nothing changes); an active account's import is announced with a #sync
 * of the new commit, a deactivated one's is not (activation announces it). One import per
 * account at a time.
 */
export class RepoImportFlow {
  private running = new Set<string>()

  constructor(
    private d: {
      accounts: AccountStore
      identity: IdentityService
      importer: RepoImporter
      logger: Logger
      /** most bytes a CAR may have */
      maxBytes: number
    },
  ) {}

  /** Whether an import of the account's repo is under way. */
  importing(did: string): boolean {
    return this.running.has(did)
  }

  async importRepo(did: string, car: AsyncIterable<Uint8Array>): Promise<void> {
    usableAccount(this.d.accounts, did)
    if (this.running.has(did)) throw new InvalidRequestError('An import of this repo is already running')
    this.running.add(did)
    try {
      const signingKey = await this.commitKey(did)
      const result = await this.d.importer.importCar(did, car, {
        maxBytes: this.d.maxBytes,
        signingKey,
        inTx: () => ({ announce: accountStatus(usableAccount(this.d.accounts, did)).active }),
      })
      this.d.logger.info(
        { did, records: result.records, nodes: result.nodes, rev: result.rev, transactionMs: Math.round(result.transactionMs) },
        'repo imported',
      )
    } finally {
      this.running.delete(did)
    }
  }

  /** The DID document's signing key, or why not (as InvalidRequest: importRepo names no errors of its own). */
  private async commitKey(did: string): Promise<string> {
    try {
      return await atprotoSigningKey(this.d.identity.didResolver, did)
    } catch (err) {
      if (err instanceof InvalidRequestError) throw new InvalidRequestError(err.errorMessage ?? err.message)
      throw err
    }
  }
}
