import { formatDidKey, multibaseToBytes, P256_JWT_ALG, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { isValidHandle } from '@atproto/syntax'

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

export class DidResolveError extends Error {}

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
 * Resolves did:plc (from the PLC directory) and did:web (hostname-level only) to their
 * documents. `plcUrl` is read on every call: in embedded mode it is set after start-up.
 */
export class DidResolver {
  constructor(
    private opts: { plcUrl: () => string; timeoutMs?: number; allowHttpLocalhost?: boolean },
  ) {}

  /** The document, or null when the DID is not registered / not found. */
  async resolve(did: string): Promise<DidDocument | null> {
    let url: string
    if (did.startsWith('did:plc:')) {
      url = `${this.opts.plcUrl().replace(/\/+$/, '')}/${encodeURIComponent(did)}`
    } else if (did.startsWith('did:web:')) {
      const host = decodeURIComponent(did.slice('did:web:'.length))
      if (host.includes(':') && !host.startsWith('localhost:')) throw new DidResolveError('unsupported did:web')
      if (host.includes('/')) throw new DidResolveError('path-based did:web is not supported')
      const local = host === 'localhost' || host.startsWith('localhost:')
      const scheme = local && this.opts.allowHttpLocalhost ? 'http' : 'https'
      url = `${scheme}://${host}/.well-known/did.json`
    } else {
      throw new DidResolveError(`unsupported DID method: ${did}`)
    }
    let res: Response
    try {
      res = await fetch(url, {
        headers: { accept: 'application/did+ld+json, application/json' },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        redirect: 'error',
      })
    } catch (err) {
      throw new DidResolveError(`could not reach DID host for ${did}: ${(err as Error).message}`)
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new DidResolveError(`DID resolution failed for ${did}: HTTP ${res.status}`)
    }
    const doc = (await res.json()) as DidDocument
    if (!doc || typeof doc !== 'object' || doc.id !== did) {
      throw new DidResolveError(`DID document for ${did} has a different id`)
    }
    return doc
  }

  async resolveAtproto(did: string): Promise<AtprotoIdentity | null> {
    const doc = await this.resolve(did)
    return doc ? parseAtprotoDoc(doc) : null
  }
}
