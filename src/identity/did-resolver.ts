import type { Resolver } from 'node:dns/promises'
import { formatDidKey, multibaseToBytes, P256_JWT_ALG, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { isValidHandle } from '@atproto/syntax'
import {
  createOutboundDns,
  createOutboundFetch,
  OutboundFetchError,
  type OutboundFetch,
  type OutboundPolicy,
  type OutboundResponse,
} from './safe-fetch.js'

export type DidDocument = {
  '@context'?: unknown
  id: string
  alsoKnownAs?: string[]
  verificationMethod?: { id: string; type: string; controller?: string; publicKeyMultibase?: string }[]
  service?: { id: string; type: string; serviceEndpoint: string | Record<string, unknown> }[]
}

/** What atproto needs from a DID document. */
export type AtprotoIdentity = {
  did: string
  /** the first valid `at://` handle claimed, not verified in the other direction */
  handle: string | undefined
  /** `did:key:...` of the `#atproto` verification method */
  signingKey: string | undefined
  /** the `#atproto_pds` service endpoint */
  pds: string | undefined
  doc: DidDocument
}

/**
 * Why a DID could not be resolved: `unsupported` (a method or form we do not resolve, or a host
 * the outbound policy refuses), `unavailable` (no answer, or an error from the host: worth
 * retrying), `invalid` (the answer is not this DID's document).
 */
export type DidResolveFailure = 'unsupported' | 'unavailable' | 'invalid'

export class DidResolveError extends Error {
  constructor(
    message: string,
    readonly kind: DidResolveFailure = 'unavailable',
  ) {
    super(message)
  }
}

/** What resolving a DID found: its document, nothing, or a DID that was deactivated (tombstoned). */
export type DidLookup = { status: 'found'; doc: DidDocument } | { status: 'not-found' } | { status: 'deactivated' }

const NOT_FOUND: DidLookup = { status: 'not-found' }
const DEACTIVATED: DidLookup = { status: 'deactivated' }

function matchesId(id: string, did: string, fragment: string): boolean {
  return id === fragment || id === `${did}${fragment}`
}

/** The `#atproto` key as a did:key; reads the legacy uncompressed forms too. */
function signingKeyOf(doc: DidDocument): string | undefined {
  const vm = doc.verificationMethod?.find((m) => matchesId(m.id, doc.id, '#atproto'))
  if (!vm?.publicKeyMultibase) return undefined
  try {
    if (vm.type === 'Multikey') return `did:key:${vm.publicKeyMultibase}`
    if (vm.type === 'EcdsaSecp256k1VerificationKey2019') {
      return formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(vm.publicKeyMultibase))
    }
    if (vm.type === 'EcdsaSecp256r1VerificationKey2019') {
      return formatDidKey(P256_JWT_ALG, multibaseToBytes(vm.publicKeyMultibase))
    }
  } catch {
    return undefined
  }
  return undefined
}

export function parseAtprotoDoc(doc: DidDocument): AtprotoIdentity {
  const did = doc.id
  let handle: string | undefined
  for (const aka of doc.alsoKnownAs ?? []) {
    if (!aka.startsWith('at://')) continue
    const h = aka.slice('at://'.length)
    if (isValidHandle(h)) {
      handle = h.toLowerCase()
      break
    }
  }
  const svc = doc.service?.find(
    (s) => matchesId(s.id, did, '#atproto_pds') && s.type === 'AtprotoPersonalDataServer',
  )
  const pds = typeof svc?.serviceEndpoint === 'string' ? svc.serviceEndpoint : undefined
  return { did, handle, signingKey: signingKeyOf(doc), pds, doc }
}

/**
 * did:web documents: HTTPS on 443 only, no redirects, at most 64 KB (an atproto DID document
 * is a few hundred bytes; this leaves room for many keys and services), ten seconds.
 * Addresses that are not public are refused unless SSRF protection is off.
 */
export function didWebFetchPolicy(cfg: { disableSsrfProtection: boolean }): OutboundPolicy {
  return {
    protocols: ['https:'],
    allowCustomPort: false,
    allowNonPublicAddresses: cfg.disableSsrfProtection,
    maxBodyBytes: 64 * 1024,
    timeoutMs: 10_000,
  }
}

/** dev mode's `did:web:localhost%3A<port>`: plain HTTP to this machine, any port */
const LOCALHOST_DID_WEB_POLICY: OutboundPolicy = {
  ...didWebFetchPolicy({ disableSsrfProtection: true }),
  protocols: ['http:', 'https:'],
  allowCustomPort: true,
}

function checkedDoc(did: string, doc: unknown): DidDocument {
  if (!doc || typeof doc !== 'object' || (doc as DidDocument).id !== did) {
    throw new DidResolveError(`DID document for ${did} has a different id`, 'invalid')
  }
  return doc as DidDocument
}

/**
 * Resolves did:plc (from the PLC directory) and did:web (hostname-level only) to their
 * documents. `plcUrl` is read on every call: in embedded mode it is set after start-up. The
 * PLC directory is the operator's choice and trusted; did:web hosts are anyone's, so they
 * are fetched through the outbound policy.
 */
export class DidResolver {
  private webFetch: OutboundFetch
  private localhostFetch: OutboundFetch | undefined

  constructor(
    private opts: {
      plcUrl: () => string
      /** for the PLC directory; did:web has its policy's */
      timeoutMs?: number
      /** dev mode: `did:web:localhost%3A<port>` over plain HTTP */
      allowHttpLocalhost?: boolean
      disableSsrfProtection?: boolean
      dns?: Resolver
    },
  ) {
    const dns = opts.dns ?? createOutboundDns()
    const ssrf = { disableSsrfProtection: opts.disableSsrfProtection ?? false }
    this.webFetch = createOutboundFetch(didWebFetchPolicy(ssrf), dns)
    this.localhostFetch = opts.allowHttpLocalhost ? createOutboundFetch(LOCALHOST_DID_WEB_POLICY, dns) : undefined
  }

  /** The document, or null when the DID is not registered, not found or deactivated. */
  async resolve(did: string): Promise<DidDocument | null> {
    const found = await this.lookUp(did)
    return found.status === 'found' ? found.doc : null
  }

  /** The document, or whether the DID does not exist or was deactivated. Throws DidResolveError. */
  async lookUp(did: string): Promise<DidLookup> {
    if (did.startsWith('did:plc:')) return this.resolvePlc(did)
    if (did.startsWith('did:web:')) return this.resolveWeb(did)
    throw new DidResolveError(`unsupported DID method: ${did}`, 'unsupported')
  }

  private plcFetch(url: string): Promise<Response> {
    return fetch(url, {
      headers: { accept: 'application/did+ld+json, application/json' },
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      redirect: 'error',
    })
  }

  private async resolvePlc(did: string): Promise<DidLookup> {
    const url = `${this.opts.plcUrl().replace(/\/+$/, '')}/${encodeURIComponent(did)}`
    let res: Response
    try {
      res = await this.plcFetch(url)
    } catch (err) {
      throw new DidResolveError(`could not reach DID host for ${did}: ${(err as Error).message}`)
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel()
      return res.status === 410 || (await this.plcTombstoned(url)) ? DEACTIVATED : NOT_FOUND
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new DidResolveError(`DID resolution failed for ${did}: HTTP ${res.status}`)
    }
    return { status: 'found', doc: checkedDoc(did, await res.json()) }
  }

  /**
   * plc.directory answers 410 for a tombstoned DID; older directories (@did-plc/server
   * included) answer 404 for it as for an unknown one, but its last operation is the tombstone.
   */
  private async plcTombstoned(didUrl: string): Promise<boolean> {
    try {
      const res = await this.plcFetch(`${didUrl}/log/last`)
      if (!res.ok) {
        await res.body?.cancel()
        return false
      }
      return ((await res.json()) as { type?: unknown } | null)?.type === 'plc_tombstone'
    } catch {
      return false
    }
  }

  private async resolveWeb(did: string): Promise<DidLookup> {
    let host: string
    try {
      host = decodeURIComponent(did.slice('did:web:'.length))
    } catch {
      throw new DidResolveError('malformed did:web', 'unsupported')
    }
    if (host.includes(':') && !host.startsWith('localhost:')) throw new DidResolveError('unsupported did:web', 'unsupported')
    if (host.includes('/')) throw new DidResolveError('path-based did:web is not supported', 'unsupported')
    const local = host === 'localhost' || host.startsWith('localhost:')
    const viaLocalhost = local ? this.localhostFetch : undefined
    const url = `${viaLocalhost ? 'http' : 'https'}://${host}/.well-known/did.json`
    let res: OutboundResponse
    try {
      res = await (viaLocalhost ?? this.webFetch)(url, { accept: 'application/did+ld+json, application/json' })
    } catch (err) {
      const refused = err instanceof OutboundFetchError && err.kind === 'refused'
      throw new DidResolveError(`could not fetch the DID document of ${did}: ${(err as Error).message}`, refused ? 'unsupported' : 'unavailable')
    }
    if (res.status === 404) return NOT_FOUND
    if (res.status === 410) return DEACTIVATED
    if (res.status < 200 || res.status > 299) {
      throw new DidResolveError(`DID resolution failed for ${did}: HTTP ${res.status}`)
    }
    let doc: unknown
    try {
      doc = JSON.parse(Buffer.from(res.body).toString('utf8'))
    } catch {
      throw new DidResolveError(`DID document for ${did} is not JSON`, 'invalid')
    }
    return { status: 'found', doc: checkedDoc(did, doc) }
  }

  async resolveAtproto(did: string): Promise<AtprotoIdentity | null> {
    const doc = await this.resolve(did)
    return doc ? parseAtprotoDoc(doc) : null
  }
}
