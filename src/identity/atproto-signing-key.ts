import { InvalidRequestError } from '@atproto/xrpc-server'
import { parseAtprotoDoc, type DidResolver } from './did-resolver.js'
import { lookUpOrXrpcError } from './identity-resolver.js'

/**
 * The `#atproto` signing key (a did:key) that a DID's document names now, read from its source
 * (no cache): what a service-auth token from that account, or its repo's commit, must be signed
 * with. 400 UnresolvableDid when the DID is not found, deactivated or of a kind we do not
 * resolve; 400 IncompatibleDidDoc when its document names no usable signing key; 502
 * UpstreamFailure when its host could not be asked (createAccount's error names).
 */
export async function atprotoSigningKey(resolver: DidResolver, did: string): Promise<string> {
  const found = await lookUpOrXrpcError(resolver.lookUp(did), did, 'UnresolvableDid')
  if (found.status !== 'found') throw new InvalidRequestError(`Could not resolve ${did}: ${found.status}`, 'UnresolvableDid')
  const key = parseAtprotoDoc(found.doc).signingKey
  if (!key) throw new InvalidRequestError(`The DID document of ${did} names no #atproto signing key`, 'IncompatibleDidDoc')
  return key
}
