import { getServiceEndpoint } from '@atproto/common'
import { DidResolveError, type DidDocument, type DidResolver } from './did-resolver.js'
import { FlightLimiter, FlightLimitError, type FlightLimits } from './flight-limiter.js'

/**
 * Why a service endpoint could not be found: `no-did` (the DID does not resolve, or is of a kind
 * or at a host we do not resolve), `no-service` (its document names no such service, or not as
 * an http(s) URL), `unavailable` (its host did not answer: worth retrying), `busy` (too many
 * lookups at once).
 */
export type ServiceEndpointFailure = 'no-did' | 'no-service' | 'unavailable' | 'busy'

export class ServiceEndpointError extends Error {
  constructor(
    readonly kind: ServiceEndpointFailure,
    message: string,
  ) {
    super(message)
  }
}

type Cached = { doc: DidDocument | null; expiresAt: number }

export type ServiceEndpointOptions = {
  /** resolves the DIDs clients name: did:web through the outbound policy */
  resolver: DidResolver
  /** how long a document is used before it is read again */
  ttlMs?: number
  /** how long "no such DID" is remembered */
  notFoundTtlMs?: number
  /** documents kept at most */
  maxEntries?: number
  limits?: FlightLimits
}

/**
 * The endpoint a DID document names for a service (`did#bsky_appview`, `did#bsky_chat`,
 * `did#atproto_labeler`...), for forwarding a client's calls there. Documents are cached: a
 * client sends the same `atproto-proxy` header with every call. Lookups are bounded and shared
 * per DID, as client-chosen lookups are elsewhere. The endpoint's address is not judged here:
 * the outbound request that uses it applies the SSRF rules when it connects.
 */
export class ServiceEndpoints {
  private cache = new Map<string, Cached>()
  private lookups: FlightLimiter<DidDocument | null>
  private ttlMs: number
  private notFoundTtlMs: number
  private maxEntries: number

  constructor(private opts: ServiceEndpointOptions) {
    this.ttlMs = opts.ttlMs ?? 10 * 60_000
    this.notFoundTtlMs = opts.notFoundTtlMs ?? 60_000
    this.maxEntries = opts.maxEntries ?? 10_000
    this.lookups = new FlightLimiter(opts.limits ?? { maxConcurrent: 32, maxWaiting: 256, maxWaitMs: 5_000 })
  }

  /** The service's endpoint URL (`serviceId` without the `#`). Throws ServiceEndpointError. */
  async endpoint(did: string, serviceId: string): Promise<string> {
    const doc = await this.document(did)
    if (!doc) throw new ServiceEndpointError('no-did', `could not resolve proxy did ${did}`)
    const url = getServiceEndpoint(doc as Parameters<typeof getServiceEndpoint>[0], { id: `#${serviceId}` })
    if (!url) throw new ServiceEndpointError('no-service', `the DID document of ${did} names no service #${serviceId}`)
    return url
  }

  private async document(did: string): Promise<DidDocument | null> {
    const cached = this.cache.get(did)
    if (cached && cached.expiresAt > Date.now()) return cached.doc
    let doc: DidDocument | null
    try {
      doc = await this.lookups.run(did, () => this.opts.resolver.resolve(did))
    } catch (err) {
      if (err instanceof FlightLimitError) throw new ServiceEndpointError('busy', 'too many DID lookups at once')
      if (err instanceof DidResolveError && err.kind !== 'unavailable') {
        throw new ServiceEndpointError('no-did', `could not resolve proxy did ${did}: ${err.message}`)
      }
      throw new ServiceEndpointError('unavailable', `could not resolve proxy did ${did}: ${(err as Error).message}`)
    }
    this.remember(did, doc)
    return doc
  }

  private remember(did: string, doc: DidDocument | null): void {
    this.cache.delete(did)
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(did, { doc, expiresAt: Date.now() + (doc ? this.ttlMs : this.notFoundTtlMs) })
  }
}
