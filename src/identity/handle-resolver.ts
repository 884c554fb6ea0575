import type { Resolver } from 'node:dns/promises'
import { isValidDid } from '@atproto/syntax'
import { ResponseType, XRPCError } from '@atproto/xrpc-server'
import { FlightLimiter, FlightLimitError, type FlightLimits } from './flight-limiter.js'
import type { OutboundFetch, OutboundPolicy } from './safe-fetch.js'

const DNS_PREFIX = '_atproto.'
const TXT_PREFIX = 'did='

/**
 * How `https://<handle>/.well-known/atproto-did` is fetched: HTTPS on 443 only, no redirects,
 * a DID's worth of body (a DID is at most 2 KB), three seconds. Addresses that are not
 * public are refused unless SSRF protection is off or the server runs in dev mode.
 */
export function wellKnownFetchPolicy(cfg: { devMode: boolean; disableSsrfProtection: boolean }): OutboundPolicy {
  return {
    protocols: ['https:'],
    allowCustomPort: false,
    allowNonPublicAddresses: cfg.devMode || cfg.disableSsrfProtection,
    maxBodyBytes: 4096,
    timeoutMs: 3000,
  }
}

/**
 * Foreign handles resolved at once (each a TXT lookup and an HTTPS fetch). A burst such as a
 * page of mentions waits a moment for a slot; a flood is answered 429 instead of piling up
 * requests and sockets.
 */
export const HANDLE_RESOLUTION_LIMITS: FlightLimits = { maxConcurrent: 8, maxWaiting: 32, maxWaitMs: 1000 }

/** 429: too many outbound resolutions (of handles, or of DIDs) in progress. */
export class HandleResolutionBusyError extends XRPCError {
  constructor(what = 'handle resolutions') {
    super(ResponseType.RateLimitExceeded, `Too many ${what} in progress; try again shortly`, 'RateLimitExceeded')
  }
}

type CacheEntry = { did: string | null; expiresAt: number }

export type HandleResolverOptions = {
  /** for the HTTPS method; built from `wellKnownFetchPolicy` */
  fetch: OutboundFetch
  /** for the DNS TXT method */
  dns: Resolver
  limits?: FlightLimits
  /** deadline of the DNS TXT method (the HTTPS method has its policy's) */
  dnsTimeoutMs?: number
  ttlMs?: number
  negativeTtlMs?: number
  maxEntries?: number
  /** where the HTTPS method asks; the spec's URL unless a test points it at a local server */
  wellKnownUrl?: (handle: string) => string
  /** the clock the cache's lifetimes are read on */
  now?: () => number
}

/**
 * Resolves foreign handles to DIDs: DNS TXT `_atproto.<handle>` and HTTPS
 * `/.well-known/atproto-did`, in parallel; DNS wins when both answer. Results (including
 * "not found") are cached for a while; concurrent resolutions are bounded (429 beyond).
 */
export class HandleResolver {
  private cache = new Map<string, CacheEntry>()
  private limiter: FlightLimiter<string | null>
  private wellKnownUrl: (handle: string) => string
  private now: () => number

  constructor(private opts: HandleResolverOptions) {
    this.limiter = new FlightLimiter(opts.limits ?? HANDLE_RESOLUTION_LIMITS)
    this.wellKnownUrl = opts.wellKnownUrl ?? ((handle) => `https://${handle}/.well-known/atproto-did`)
    this.now = opts.now ?? Date.now
  }

  /**
   * The DID `handle` names, or null. `fresh` skips the cache (a lookup already under way is
   * still shared) and caches what it finds: for checks that must see a record just set up,
   * such as a handle change, and for refreshIdentity.
   */
  async resolve(handle: string, opts: { fresh?: boolean } = {}): Promise<string | null> {
    const hit = opts.fresh ? undefined : this.cache.get(handle)
    if (hit && hit.expiresAt > this.now()) return hit.did
    try {
      return await this.limiter.run(handle, () => this.lookUp(handle))
    } catch (err) {
      if (err instanceof FlightLimitError) throw new HandleResolutionBusyError()
      throw err
    }
  }

  private async lookUp(handle: string): Promise<string | null> {
    const [fromDns, fromHttp] = await Promise.all([this.resolveDns(handle), this.resolveHttps(handle)])
    const did = fromDns ?? fromHttp
    const ttl = did ? (this.opts.ttlMs ?? 10 * 60_000) : (this.opts.negativeTtlMs ?? 60_000)
    if (this.cache.size >= (this.opts.maxEntries ?? 10_000)) this.cache.clear()
    this.cache.set(handle, { did, expiresAt: this.now() + ttl })
    return did
  }

  /**
   * One deadline bounds the wait (c-ares's own timeout grows with its retries and the
   * latency it has seen), and a DNS answer is at most 64 KB (UDP datagram or TCP message),
   * however many records it holds: only `did=` values are kept from it.
   */
  async resolveDns(handle: string): Promise<string | null> {
    const lookup = this.opts.dns.resolveTxt(DNS_PREFIX + handle).catch(() => null)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.opts.dnsTimeoutMs ?? 3000)
    })
    const records = await Promise.race([lookup, deadline])
    clearTimeout(timer)
    if (!records) return null
    const dids = new Set<string>()
    for (const chunks of records) {
      const value = chunks.join('')
      if (!value.startsWith(TXT_PREFIX)) continue
      const did = value.slice(TXT_PREFIX.length).trim()
      if (isValidDid(did)) dids.add(did)
    }
    // several different DIDs: ambiguous, so it does not resolve
    return dids.size === 1 ? [...dids][0] : null
  }

  async resolveHttps(handle: string): Promise<string | null> {
    try {
      const res = await this.opts.fetch(this.wellKnownUrl(handle), { accept: 'text/plain' })
      if (res.status < 200 || res.status > 299) return null
      const did = Buffer.from(res.body).toString('utf8').split('\n')[0].trim()
      return isValidDid(did) ? did : null
    } catch {
      return null
    }
  }
}
