import { check } from '@atproto/common'
import { InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import type * as plc from '@did-plc/lib'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { accountStatus } from '../accounts/status.js'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { plcLib } from '../identity/plc-lib.js'
import {
  assertKeepsAccount,
  assertKeepsRotationKey,
  assertPointsHere,
  opPointsAt,
  PDS_SERVICE_ID,
  PDS_SERVICE_TYPE,
  requestedChanges,
  signedUpdate,
  type DidCredentials,
} from '../identity/plc-ops.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import { PlcRequestError, type IdentityService, type PlcSigner } from '../identity/service.js'
import type { Logger } from '../logger.js'
import type { RepoService } from '../repo/service.js'
import { writeTransaction } from '../repo/transaction.js'
import type { TokenMail } from './token-mail.js'

const TOKEN_PURPOSE = 'plc_operation'

export type SignPlcOperationInput = {
  token?: string
  rotationKeys?: unknown
  alsoKnownAs?: unknown
  verificationMethods?: unknown
  services?: unknown
}

/**
 * The PLC operation flow, for an account that changes its DID document through this server (an
 * account leaving it, above all): getRecommendedDidCredentials, requestPlcOperationSignature (a
 * one-time token for the account holder), signPlcOperation (an operation signed with our
 * rotation key, for that token), submitPlcOperation (an operation checked and sent to the
 * directory).
 *
 * The token is mailed, or with no SMTP configured goes to the outbox in the data directory, and
 * an info log line says that one is there (never the token).
 */
export class PlcOperationFlow {
  constructor(
    private d: {
      cfg: Config
      db: Db
      logger: Logger
      accounts: AccountStore
      sequencer: Sequencer
      identity: IdentityService
      repo: RepoService
      tokens: AccountTokenStore
      tokenMail: TokenMail
    },
  ) {}

  private account(did: string): AccountRow {
    const account = this.d.accounts.getByDid(did)
    if (!account) throw new InvalidRequestError(`Could not find account: ${did}`)
    return account
  }

  private assertPlc(did: string): void {
    if (!did.startsWith('did:plc:')) throw new InvalidRequestError('Only a did:plc document is updated through this server')
  }

  /** What the DID document of an account served here should hold. */
  async recommendedCredentials(did: string): Promise<DidCredentials> {
    const account = this.account(did)
    const signingKey = await this.d.repo.signingKey(did)
    return {
      rotationKeys: [(await this.d.identity.plcRotationKey()).did()],
      alsoKnownAs: [`at://${account.handle}`],
      verificationMethods: { atproto: signingKey.did() },
      services: { [PDS_SERVICE_ID]: { type: PDS_SERVICE_TYPE, endpoint: this.d.cfg.publicUrl } },
    }
  }

  /** A new token for the account holder (the earlier one stops working once it is delivered). */
  async requestSignature(did: string): Promise<void> {
    const account = this.account(did)
    this.assertPlc(did)
    await this.d.tokenMail.issue(account, TOKEN_PURPOSE)
  }

  /** An operation changing what the input names, signed with our rotation key; uses the token up. */
  async sign(did: string, input: SignPlcOperationInput): Promise<plc.Operation> {
    this.account(did)
    this.assertPlc(did)
    if (!input.token) throw new InvalidRequestError('email confirmation token required to sign PLC operations')
    const changes = requestedChanges(input)
    this.d.tokenMail.assertValid(did, TOKEN_PURPOSE, input.token)
    const last = await this.plc(() => this.d.identity.lastOpWeControl(did))
    const rotationKey = await this.d.identity.plcRotationKey()
    const op = await signedUpdate(last, rotationKey as unknown as PlcSigner, changes)
    this.d.tokenMail.useUp(did, TOKEN_PURPOSE, input.token)
    this.d.tokenMail.used(TOKEN_PURPOSE, did)
    return op
  }

  /**
   * Checks an operation and sends it to the PLC directory. One that keeps the account here (or
   * brings it here, while it is deactivated during a migration) must keep our rotation key, its
   * repo signing key and its handle; an active account's operation must also point at us. A
   * deactivated account may point elsewhere: it is leaving. `#identity` follows for an active
   * account (a deactivated one announces itself when it is activated).
   */
  async submit(did: string, operation: unknown): Promise<void> {
    const account = this.account(did)
    this.assertPlc(did)
    if (!check.is(operation, plcLib().def.operation)) throw new InvalidRequestError('Invalid operation')
    const op = operation as plc.Operation
    const { active } = accountStatus(account)
    const here = opPointsAt(op, this.d.cfg.publicUrl)
    if (active || here) assertKeepsRotationKey(op, (await this.d.identity.plcRotationKey()).did())
    if (active) assertPointsHere(op, this.d.cfg.publicUrl)
    if (here) assertKeepsAccount(op, { signingKey: (await this.d.repo.signingKey(did)).did(), handle: account.handle })

    await this.d.identity.withPlcLock(did, () => this.plc(() => this.d.identity.sendPlcOperation(did, op), true))
    if (active) {
      writeTransaction(this.d.db, this.d.sequencer, () => {
        this.d.sequencer.appendIdentityInTx(did, account.handle)
      })
    }
    this.d.logger.info({ did }, 'PLC operation submitted')
  }

  /**
   * PLC directory failures as XRPC errors: unreachable or failing, 502 UpstreamFailure; an
   * operation it refuses, 400 with its reason when the operation was the client's.
   */
  private async plc<T>(fn: () => Promise<T>, clientOp = false): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (!(err instanceof PlcRequestError)) throw err
      if (clientOp && err.status >= 400 && err.status < 500) throw new InvalidRequestError(err.message)
      this.d.logger.warn({ status: err.status, message: err.message }, 'PLC directory request failed')
      throw new UpstreamFailureError('The PLC directory could not be reached', 'UpstreamFailure')
    }
  }
}
