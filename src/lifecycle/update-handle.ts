import { InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { accountStatus, assertAccountWritable } from '../accounts/status.js'
import { RateLimitedError, WindowCounter } from '../auth/rate-limiter.js'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { parseAtprotoDoc } from '../identity/did-resolver.js'
import { normalizeHandleChange } from '../identity/handle.js'
import { didDocOrThrow } from '../identity/identity-resolver.js'
import { PlcRequestError, type IdentityService } from '../identity/service.js'
import type { Logger } from '../logger.js'
import { writeTransaction } from '../repo/transaction.js'
import { isUniqueViolation } from './account-fields.js'

/** Handle changes per account: the reference's limits (each one is a PLC operation signed by our key). */
const LIMITS = [
  { windowMs: 5 * 60_000, limit: 10 },
  { windowMs: 24 * 60 * 60_000, limit: 50 },
]

/**
 * com.atproto.identity.updateHandle: to a name under our domains, or to a domain that already
 * resolves to the account (DNS TXT or HTTPS, looked up afresh). The DID document is updated
 * first (a did:plc by an operation signed with our rotation key; a did:web must already claim
 * the handle); then, in one transaction, the account row takes the new handle (the old one is
 * free from that moment) and `#identity` is appended. Changing to the current handle re-checks
 * it and announces it again.
 *
 * The admin (com.atproto.admin.updateAccountHandle, `byAdmin`) goes the same way under the same
 * name rules, without the per-account limits, and may also rename an account that is not active
 * (deactivated or taken down, as the reference's admin may; e.g. to free a handle that a
 * taken-down account impersonated with): its `#identity` is then left to the activation or the
 * lifted takedown, which announces the handle (as the PLC operation flow leaves it).
 */
export class HandleUpdater {
  private counters = LIMITS.map((l) => new WindowCounter(l.windowMs, l.limit))

  constructor(
    private d: {
      cfg: Config
      db: Db
      logger: Logger
      accounts: AccountStore
      sequencer: Sequencer
      identity: IdentityService
    },
  ) {}

  async updateHandle(did: string, requested: string, opts: { byAdmin?: boolean } = {}): Promise<void> {
    const byAdmin = opts.byAdmin === true
    if (!byAdmin) this.count(did)
    const { accounts, identity } = this.d
    const usable = (account: AccountRow | undefined): AccountRow => {
      if (!account) throw new InvalidRequestError(`Could not find account: ${did}`, byAdmin ? 'AccountNotFound' : undefined)
      if (!byAdmin) assertAccountWritable(account)
      return account
    }
    usable(accounts.getByDid(did))
    const { handle, external } = normalizeHandleChange(requested, this.d.cfg.serviceHandleDomains)
    const holder = accounts.getByHandle(handle)
    if (holder && holder.did !== did) throw new InvalidRequestError(`Handle already taken: ${handle}`, 'HandleNotAvailable')
    if (external && (await identity.resolveHandleAuthoritatively(handle, { fresh: true })) !== did) {
      throw new InvalidRequestError('External handle did not resolve to DID')
    }

    await identity.withPlcLock(did, async () => {
      // the account as it is now that this change has its turn
      const current = usable(accounts.getByDid(did))
      const previous = current.handle
      await this.pointDidDocAt(did, handle)
      try {
        writeTransaction(this.d.db, this.d.sequencer, () => {
          // the DID document names the handle now: the row follows whatever happened meanwhile,
          // and an account that is not active (any more) is announced when it is served again
          accounts.setHandle(did, handle)
          if (accountStatus(accounts.getByDid(did)).active) this.d.sequencer.appendIdentityInTx(did, handle)
        })
      } catch (err) {
        if (!isUniqueViolation(err, 'account.handle')) throw err
        // another account took the handle while the DID document was being updated: put the
        // document back, so that it keeps naming the handle this account still has
        if (did.startsWith('did:plc:')) {
          await this.pointDidDocAt(did, previous).catch((restoreErr: unknown) => {
            this.d.logger.error({ did, err: (restoreErr as Error).message }, 'could not restore the DID document handle')
          })
        }
        throw new InvalidRequestError(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      }
    })
    this.d.logger.info({ did, handle }, 'handle updated')
  }

  private count(did: string): void {
    const now = Date.now()
    const wait = Math.max(...this.counters.map((c) => c.retryAfterMs(did, now)))
    if (wait > 0) throw new RateLimitedError(Math.ceil(wait / 1000), 'Too many handle changes; try again later')
    for (const c of this.counters) c.add(did, now)
  }

  private async pointDidDocAt(did: string, handle: string): Promise<void> {
    if (did.startsWith('did:plc:')) {
      try {
        await this.d.identity.updatePlcHandle(did, handle)
      } catch (err) {
        if (!(err instanceof PlcRequestError)) throw err
        this.d.logger.warn({ did, status: err.status, message: err.message }, 'PLC handle update failed')
        throw new UpstreamFailureError('Could not update the DID document with the PLC directory', 'UpstreamFailure')
      }
      return
    }
    // did:web: its owner edits the document; we only check that it claims the handle
    if (parseAtprotoDoc(await didDocOrThrow(this.d.identity, did)).handle !== handle) {
      throw new InvalidRequestError('DID is not properly configured for handle')
    }
  }
}
