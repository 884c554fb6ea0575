import { parseDidKey } from '@atproto/crypto'
import { AuthRequiredError, InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import type { InviteStore } from '../auth/invite-store.js'
import { hashPassword } from '../auth/password.js'
import { RateLimitedError, WindowCounter } from '../auth/rate-limiter.js'
import type { SessionStore } from '../auth/session-store.js'
import type { TokenService } from '../auth/tokens.js'
import type { Config } from '../config.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { normalizeAndValidateHandle, normalizeHandleChange } from '../identity/handle.js'
import { IdentityService, PlcRequestError } from '../identity/service.js'
import type { Logger } from '../logger.js'
import type { RepoService } from '../repo/service.js'
import { SigningKey } from '../repo/signing-key.js'
import { checkedEmail, checkedNewPassword, isUniqueViolation } from './account-fields.js'

export type CreateAccountInput = {
  handle: string
  email?: string
  password?: string
  inviteCode?: string
  did?: string
  plcOp?: unknown
  /** the account holder's own PLC rotation key (did:key), listed before the server's */
  recoveryKey?: string
}

export type CreatedAccount = { did: string; handle: string; accessJwt: string; refreshJwt: string; didDoc?: unknown }

function isPrimaryKeyViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

/** A recovery key must be a did:key of a curve PLC accepts (secp256k1 or P-256); an empty one is none. */
function checkedRecoveryKey(value: string | undefined): string | undefined {
  const key = value?.trim()
  if (!key) return undefined
  try {
    parseDidKey(key)
  } catch {
    throw new InvalidRequestError('recoveryKey must be a did:key of a secp256k1 or P-256 public key')
  }
  return key
}

/**
 * Account creation: a did:plc from the PLC directory, then in one transaction the account row,
 * the invite use, the first session, the empty signed repo and its #identity, #account, #commit
 * and #sync events. Or, for an account moving here with its DID (a service-auth token from that
 * DID's key), the same rows but no DID operation and no events, the account deactivated.
 * Attempts are limited per client IP (each one can sign a PLC operation with the server's key
 * and fills the disk).
 */
export class AccountCreator {
  private perIp: WindowCounter

  constructor(
    private d: {
      cfg: Config
      logger: Logger
      accounts: AccountStore
      sessions: SessionStore
      invites: InviteStore
      tokens: TokenService
      sequencer: Sequencer
      identity: IdentityService
      repo: RepoService
    },
  ) {
    this.perIp = new WindowCounter(d.cfg.createAccountRateLimit.windowMs, d.cfg.createAccountRateLimit.perIp)
  }

  /**
   * `requester`: the DID of the service-auth token for this method that came with the request
   * (verified when called; null: none came). With `input.did` it must be that DID (the account
   * holder moving it here), checked after the per-IP limit. Such an account keeps its DID (no PLC
   * operation is made), gets a new signing key and an empty repo, and starts deactivated,
   * announcing nothing: relays hear of it when it is activated, once its repo is imported and its
   * DID document points here.
   */
  async createAccount(
    input: CreateAccountInput,
    ip: string,
    requester: () => Promise<string | null> = async () => null,
  ): Promise<CreatedAccount> {
    const retryAfterMs = this.perIp.retryAfterMs(ip)
    if (retryAfterMs > 0) {
      throw new RateLimitedError(Math.ceil(retryAfterMs / 1000), 'Too many accounts created from this address; try again later')
    }
    this.perIp.add(ip)
    const { cfg, accounts } = this.d
    if (input.plcOp !== undefined) throw new InvalidRequestError('Unsupported input: "plcOp"')
    const existingDid = input.did
    if (existingDid !== undefined && existingDid !== (await requester())) {
      throw new AuthRequiredError(`Missing auth to create account with did: ${existingDid}`)
    }
    const email = checkedEmail(input.email)
    const password = checkedNewPassword(input.password)
    const handle =
      existingDid === undefined
        ? normalizeAndValidateHandle(input.handle, cfg.serviceHandleDomains)
        : await this.handleOfArrivingAccount(input.handle, existingDid)
    const recoveryKey = existingDid === undefined ? checkedRecoveryKey(input.recoveryKey) : undefined

    const inviteCode = cfg.inviteRequired ? input.inviteCode?.trim() : undefined
    if (cfg.inviteRequired) {
      if (!inviteCode) throw new InvalidRequestError('No invite code provided', 'InvalidInviteCode')
      if (this.d.invites.check(inviteCode)) {
        throw new InvalidRequestError('Provided invite code not available', 'InvalidInviteCode')
      }
    }
    if (existingDid !== undefined && accounts.getByDid(existingDid)) {
      throw new InvalidRequestError(`An account with the DID ${existingDid} is already hosted here`)
    }
    if (accounts.getByHandle(handle)) throw new InvalidRequestError('Handle already taken', 'HandleNotAvailable')
    if (accounts.getByEmail(email)) throw new InvalidRequestError('Email already taken')

    const passwordHash = await hashPassword(password)
    const signingKey = await SigningKey.generate()
    // no didDoc in the answer for a DID moving here: its document still names the old server,
    // and @atproto/api's agent would send the account's next calls there
    const { did, didDoc } =
      existingDid === undefined ? await this.createDid(handle, signingKey, recoveryKey) : { did: existingDid, didDoc: undefined }
    const arriving = existingDid !== undefined

    const now = Date.now()
    const accessJwt = await this.d.tokens.createAccessToken(did, now)
    const refresh = await this.d.tokens.createRefreshToken(did, { now })

    await this.d.repo.createRepo(
      did,
      signingKey,
      () => {
        try {
          accounts.insert({
            did,
            handle,
            email,
            password_hash: passwordHash,
            signing_key: Buffer.from(signingKey.exportPrivateKey()),
            created_at: new Date(now).toISOString(),
            deactivated_at: arriving ? new Date(now).toISOString() : null,
          })
        } catch (err) {
          // lost a race with a concurrent createAccount
          if (isUniqueViolation(err, 'account.handle')) {
            throw new InvalidRequestError('Handle already taken', 'HandleNotAvailable')
          }
          if (isUniqueViolation(err, 'account.email')) throw new InvalidRequestError('Email already taken')
          if (isUniqueViolation(err, 'account.did') || isPrimaryKeyViolation(err)) {
            throw new InvalidRequestError(`An account with the DID ${did} is already hosted here`)
          }
          throw err
        }
        if (inviteCode && this.d.invites.useInTx(inviteCode, did)) {
          throw new InvalidRequestError('Provided invite code not available', 'InvalidInviteCode')
        }
        this.d.sessions.insert(refresh.id, did, refresh.expiresAt)
        if (arriving) return
        this.d.sequencer.appendIdentityInTx(did, handle)
        this.d.sequencer.appendAccountInTx(did, true)
      },
      { announce: !arriving },
    )
    this.d.logger.info({ did, handle, arriving }, arriving ? 'account created for a DID moving here (deactivated)' : 'account created')
    return { did, handle, accessJwt, refreshJwt: refresh.jwt, ...(didDoc ? { didDoc } : {}) }
  }

  /**
   * The handle of an account moving here: one under our domains with every rule of a new
   * account's, or its own domain, which must resolve to its DID (as updateHandle checks it).
   */
  private async handleOfArrivingAccount(requested: string, did: string): Promise<string> {
    const { handle, external } = normalizeHandleChange(requested, this.d.cfg.serviceHandleDomains)
    if (external && (await this.d.identity.resolveHandleAuthoritatively(handle, { fresh: true })) !== did) {
      throw new InvalidRequestError('External handle did not resolve to DID')
    }
    return handle
  }

  private async createDid(
    handle: string,
    signingKey: SigningKey,
    recoveryKey: string | undefined,
  ): Promise<{ did: string; didDoc: unknown }> {
    try {
      const created = await this.d.identity.createPlcDid({ handle, signingKeyDid: signingKey.did(), recoveryKey })
      return { did: created.did, didDoc: IdentityService.didDocFor(created.did, created.op) }
    } catch (err) {
      if (err instanceof PlcRequestError) {
        this.d.logger.warn({ status: err.status, message: err.message }, 'PLC genesis operation failed')
        throw new UpstreamFailureError('Could not create the DID with the PLC directory', 'UpstreamFailure')
      }
      throw err
    }
  }
}
