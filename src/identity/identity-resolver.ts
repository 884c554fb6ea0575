import { INVALID_HANDLE } from '@atproto/syntax'
import { InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import { DidResolveError, parseAtprotoDoc, type DidDocument, type DidLookup } from './did-resolver.js'
import type { IdentityService } from './service.js'

/** `com.atproto.identity.defs#identityInfo` */
export type IdentityInfo = { did: string; handle: string; didDoc: DidDocument }

/**
 * A DID lookup's answer, its failure as an XRPC error: 502 UpstreamFailure when the DID's host
 * could not be asked, else 400 with `errorName` (a method we do not resolve, an answer that is
 * not its document).
 */
export async function lookUpOrXrpcError(lookUp: Promise<DidLookup>, did: string, errorName: string): Promise<DidLookup> {
  try {
    return await lookUp
  } catch (err) {
    if (!(err instanceof DidResolveError)) throw err
    if (err.kind === 'unavailable') throw new UpstreamFailureError(`Could not resolve ${did}: ${err.message}`)
    throw new InvalidRequestError(`Could not resolve ${did}: ${err.message}`, errorName)
  }
}

/**
 * A DID's document, or the lexicons' errors: DidNotFound (no such DID, a method we do not
 * resolve, or an answer that is not its document), DidDeactivated (tombstoned), 502
 * UpstreamFailure when its host could not be asked.
 */
export async function didDocOrThrow(identity: IdentityService, did: string): Promise<DidDocument> {
  const found = await lookUpOrXrpcError(identity.lookUpDid(did), did, 'DidNotFound')
  if (found.status === 'deactivated') throw new InvalidRequestError(`DID has been deactivated: ${did}`, 'DidDeactivated')
  if (found.status === 'not-found') throw new InvalidRequestError(`DID not found: ${did}`, 'DidNotFound')
  return found.doc
}

/**
 * resolveIdentity / refreshIdentity: a DID or a handle to the DID, its document and the handle
 * verified in both directions (the document claims it and it points back at the DID), or
 * `handle.invalid`. A handle given as the identifier must verify, else HandleNotFound.
 * `fresh` (refreshIdentity) skips the handle cache and stores what it finds.
 */
export async function resolveIdentity(
  identity: IdentityService,
  identifier: string,
  opts: { fresh?: boolean } = {},
): Promise<IdentityInfo> {
  if (identifier.startsWith('did:')) {
    const didDoc = await didDocOrThrow(identity, identifier)
    const claimed = parseAtprotoDoc(didDoc).handle
    const verified = claimed !== undefined && (await identity.resolveHandleAuthoritatively(claimed, opts)) === identifier
    return { did: identifier, handle: verified ? claimed : INVALID_HANDLE, didDoc }
  }
  const handle = identifier.toLowerCase()
  const did = await identity.resolveHandleAuthoritatively(handle, opts)
  if (!did) throw new InvalidRequestError(`Unable to resolve handle: ${handle}`, 'HandleNotFound')
  const didDoc = await didDocOrThrow(identity, did)
  if (parseAtprotoDoc(didDoc).handle !== handle) {
    throw new InvalidRequestError(`The DID document of ${did} does not claim the handle ${handle}`, 'HandleNotFound')
  }
  return { did, handle, didDoc }
}
