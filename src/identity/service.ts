import { check } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import { isValidTld } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type * as plc from '@did-plc/lib'
import type { AccountStore } from '../accounts/account-store.js'
import { handleServed } from '../accounts/status.js'
import type { Config } from '../config.js'
import { KeyedLock } from '../keyed-lock.js'
import { DidResolver, type DidLookup } from './did-resolver.js'
import { FlightLimiter, FlightLimitError } from './flight-limiter.js'
import { isServiceHandle } from './handle.js'
import { HANDLE_RESOLUTION_LIMITS, HandleResolutionBusyError, HandleResolver, wellKnownFetchPolicy } from './handle-resolver.js'
import { plcLib } from './plc-lib.js'
import { handleOfOp } from './plc-ops.js'
import { createOutboundDns, createOutboundFetch } from './safe-fetch.js'

export class PlcRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export type PlcSigner = Parameters<typeof plc.createOp>[0]['signer']

/**
 * DIDs and handles: creating did:plc identities through the PLC directory, resolving DIDs
 * and handles. The PLC URL is the configured one, or the embedded directory's once started.
 */
export class IdentityService {
  readonly didResolver: DidResolver
  readonly handleResolver: HandleResolver
  private _plcUrl: string | undefined
  private rotationKey: Promise<Secp256k1Keypair> | undefined
  /** DID resolutions for clients (resolveDid, resolveIdentity): bounded like handle resolutions */
  private didLookups = new FlightLimiter<DidLookup>(HANDLE_RESOLUTION_LIMITS)
  /** PLC updates signed here, one DID at a time: each is built on the DID's last operation */
  private plcLocks = new KeyedLock()

  constructor(
    private cfg: Config,
    private accounts: AccountStore,
  ) {
    this._plcUrl = cfg.plcUrl
    const dns = createOutboundDns()
    this.didResolver = new DidResolver({
      plcUrl: () => this.plcUrl,
      allowHttpLocalhost: cfg.devMode,
      disableSsrfProtection: cfg.disableSsrfProtection,
      dns,
    })
    this.handleResolver = new HandleResolver({ dns, fetch: createOutboundFetch(wellKnownFetchPolicy(cfg), dns) })
  }

  get plcUrl(): string {
    if (!this._plcUrl) throw new Error('no PLC directory: the embedded PLC has not been started')
    return this._plcUrl
  }

  /** set by startPds once the embedded PLC directory listens */
  setPlcUrl(url: string): void {
    this._plcUrl = url
  }

  plcRotationKey(): Promise<Secp256k1Keypair> {
    this.rotationKey ??= Secp256k1Keypair.import(this.cfg.plcRotationKeyHex)
    return this.rotationKey
  }

  /**
   * Build and sign the genesis op (the server's rotation key; the account's signing key as
   * `atproto`; `at://<handle>`; our public URL as the PDS) and register it with PLC.
   */
  async createPlcDid(opts: {
    handle: string
    signingKeyDid: string
    /** the account holder's own rotation key: first, so it outranks ours (as the reference orders them) */
    recoveryKey?: string
  }): Promise<{ did: string; op: plc.Operation }> {
    const rotationKey = await this.plcRotationKey()
    const rotationKeys = [rotationKey.did()]
    if (opts.recoveryKey && opts.recoveryKey !== rotationKeys[0]) rotationKeys.unshift(opts.recoveryKey)
    const { op, did } = await plcLib().createOp({
      signingKey: opts.signingKeyDid,
      handle: opts.handle,
      pds: this.cfg.publicUrl,
      rotationKeys,
      signer: rotationKey as unknown as PlcSigner,
    })
    await this.sendPlcOperation(did, op)
    return { did, op }
  }

  /** The DID's last operation from the PLC directory (null: the DID is not registered). */
  async lastPlcOp(did: string): Promise<plc.CompatibleOpOrTombstone | null> {
    let res: Response
    try {
      res = await fetch(`${this.plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}/log/last`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(15_000),
      })
    } catch (err) {
      throw new PlcRequestError(0, `PLC directory unreachable: ${(err as Error).message}`)
    }
    if (res.status === 404) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new PlcRequestError(res.status, `PLC directory answered ${res.status} for the last operation of ${did}`)
    }
    const op: unknown = await res.json()
    if (!check.is(op, plcLib().def.compatibleOpOrTombstone)) {
      throw new PlcRequestError(502, `PLC directory sent something that is not an operation for ${did}`)
    }
    return op
  }

  /** Runs `fn` after every earlier PLC update of the same DID from this server has finished. */
  withPlcLock<T>(did: string, fn: () => Promise<T>): Promise<T> {
    return this.plcLocks.run(did, fn)
  }

  /**
   * The DID's last operation, for building the next one with the server's rotation key:
   * InvalidRequest when the DID is unknown to the directory, tombstoned, or no longer lists our
   * rotation key (its holder took it out, e.g. after moving to another server).
   */
  async lastOpWeControl(did: string): Promise<plc.CompatibleOp> {
    const last = await this.lastPlcOp(did)
    if (!last) throw new InvalidRequestError(`The PLC directory does not know ${did}`)
    if (last.type === 'plc_tombstone') throw new InvalidRequestError('Did is tombstoned')
    if (!plcLib().normalizeOp(last).rotationKeys.includes((await this.plcRotationKey()).did())) {
      throw new InvalidRequestError("This server's rotation key can no longer update this DID")
    }
    return last
  }

  /**
   * Points the DID document's handle at `handle` with an operation signed by our rotation key,
   * unless it already names it. Run inside `withPlcLock`.
   */
  async updatePlcHandle(did: string, handle: string): Promise<void> {
    // the next op's prev is the CID of the last op as stored, so it is built on that, not on its normalized form
    const last = await this.lastOpWeControl(did)
    if (handleOfOp(plcLib().normalizeOp(last)) === handle) return
    const rotationKey = await this.plcRotationKey()
    const op = await plcLib().updateHandleOp(last, rotationKey as unknown as PlcSigner, handle)
    await this.sendPlcOperation(did, op)
  }

  async sendPlcOperation(did: string, op: plc.OpOrTombstone): Promise<void> {
    let res: Response
    try {
      res = await fetch(`${this.plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(op),
        signal: AbortSignal.timeout(15_000),
      })
    } catch (err) {
      throw new PlcRequestError(0, `PLC directory unreachable: ${(err as Error).message}`)
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '')
      let message = body.slice(0, 300)
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? message
      } catch {
        // not JSON
      }
      throw new PlcRequestError(res.status, `PLC directory refused the operation (${res.status}): ${message}`)
    }
    await res.body?.cancel()
  }

  /** The DID document data as the PLC directory renders it for an op (for createAccount's didDoc). */
  static didDocFor(did: string, op: plc.Operation): unknown {
    return plcLib().formatDidDoc({
      did,
      rotationKeys: op.rotationKeys,
      verificationMethods: op.verificationMethods,
      alsoKnownAs: op.alsoKnownAs,
      services: op.services,
    })
  }

  /** Our own handles from the account table; foreign ones by DNS/HTTPS. null = not found. */
  async resolveHandle(handle: string): Promise<string | null> {
    const h = handle.toLowerCase()
    // a handle on another domain that an account here holds is answered from the table too
    // (ours are, in resolveHandleAuthoritatively: read once either way)
    if (!isServiceHandle(h, this.cfg.serviceHandleDomains)) {
      const local = this.accounts.getByHandle(h)
      if (handleServed(local)) return local!.did
    }
    return this.resolveHandleAuthoritatively(h)
  }

  /**
   * Where a handle points according to whoever answers for it: the account table for names
   * under our own domains, DNS/HTTPS for every other domain, even one an account here uses (its
   * owner may have pointed it elsewhere since). For bidirectional checks. `fresh` skips the cache.
   */
  async resolveHandleAuthoritatively(handle: string, opts: { fresh?: boolean } = {}): Promise<string | null> {
    const h = handle.toLowerCase()
    if (isServiceHandle(h, this.cfg.serviceHandleDomains)) {
      const local = this.accounts.getByHandle(h)
      return handleServed(local) ? local!.did : null
    }
    // reserved TLDs (and .test outside our own domains) never resolve: skip the network
    if (!isValidTld(h) || h.endsWith('.test')) return null
    return this.handleResolver.resolve(h, opts)
  }

  /** A DID's document for a client, bounded in concurrency (429 beyond) and shared per DID. */
  async lookUpDid(did: string): Promise<DidLookup> {
    try {
      return await this.didLookups.run(did, () => this.didResolver.lookUp(did))
    } catch (err) {
      if (err instanceof FlightLimitError) throw new HandleResolutionBusyError('DID resolutions')
      throw err
    }
  }
}
