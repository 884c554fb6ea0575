import { Secp256k1Keypair } from '@atproto/crypto'
import { isValidTld } from '@atproto/syntax'
import type * as plc from '@did-plc/lib'
import type { AccountStore } from '../accounts/account-store.js'
import type { Config } from '../config.js'
import { DidResolver } from './did-resolver.js'
import { isServiceHandle } from './handle.js'
import { HandleResolver, wellKnownFetchPolicy } from './handle-resolver.js'
import { plcLib } from './plc-lib.js'
import { createOutboundDns, createOutboundFetch } from './safe-fetch.js'

export class PlcRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

type PlcSigner = Parameters<typeof plc.createOp>[0]['signer']

/**
 * DIDs and handles: creating did:plc identities through the PLC directory, resolving DIDs
 * and handles. The PLC URL is the configured one, or the embedded directory's once started.
 */
export class IdentityService {
  readonly didResolver: DidResolver
  readonly handleResolver: HandleResolver
  private _plcUrl: string | undefined
  private rotationKey: Promise<Secp256k1Keypair> | undefined

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
  async createPlcDid(opts: { handle: string; signingKeyDid: string }): Promise<{ did: string; op: plc.Operation }> {
    const rotationKey = await this.plcRotationKey()
    const { op, did } = await plcLib().createOp({
      signingKey: opts.signingKeyDid,
      handle: opts.handle,
      pds: this.cfg.publicUrl,
      rotationKeys: [rotationKey.did()],
      signer: rotationKey as unknown as PlcSigner,
    })
    await this.sendPlcOperation(did, op)
    return { did, op }
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
    const local = this.accounts.getByHandle(h)
    if (local) return local.did
    if (isServiceHandle(h, this.cfg.serviceHandleDomains)) return null
    // reserved TLDs (and .test outside our own domains) never resolve: skip the network
    if (!isValidTld(h) || h.endsWith('.test')) return null
    return this.handleResolver.resolve(h)
  }
}
