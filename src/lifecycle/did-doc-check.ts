import { InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import type { Config } from '../config.js'
import type { IdentityService } from '../identity/service.js'
import { plcLib } from '../identity/plc-lib.js'
import type { RepoService } from '../repo/service.js'

/** What the DID document must say for this server to serve the account (activateAccount). */
type DocContents = { pdsEndpoint?: string; signingKey?: string; rotationKeys?: string[] }

export type DidDocCheckDeps = { cfg: Config; identity: IdentityService; repo: RepoService }

/**
 * The DID document as it stands now, read from its source (the PLC directory's data for
 * did:plc, the document for did:web; no cache), must name this server as the PDS, the account's
 * signing key as `#atproto`, and for did:plc keep our rotation key, or we could not update it.
 * Throws InvalidRequest with the reference's messages; UpstreamFailure when the DID cannot be
 * read at all.
 */
export async function assertDidDocForService(d: DidDocCheckDeps, did: string): Promise<void> {
  const contents = await readDocContents(d, did)
  if (contents.rotationKeys !== undefined) {
    const ours = (await d.identity.plcRotationKey()).did()
    if (!contents.rotationKeys.includes(ours)) throw new InvalidRequestError('Server rotation key not included in PLC DID data')
  }
  if (!contents.pdsEndpoint || contents.pdsEndpoint !== d.cfg.publicUrl) {
    throw new InvalidRequestError('DID document atproto_pds service endpoint does not match PDS public url')
  }
  const key = await d.repo.signingKey(did)
  if (!contents.signingKey || contents.signingKey !== key.did()) {
    throw new InvalidRequestError('DID document verification method does not match expected signing key')
  }
}

/** `assertDidDocForService` as a yes/no (checkAccountStatus's `validDid`). */
export async function isDidDocForService(d: DidDocCheckDeps, did: string): Promise<boolean> {
  try {
    await assertDidDocForService(d, did)
    return true
  } catch {
    return false
  }
}

async function readDocContents(d: DidDocCheckDeps, did: string): Promise<DocContents> {
  if (did.startsWith('did:plc:')) {
    let data
    try {
      data = await new (plcLib().Client)(d.identity.plcUrl).getDocumentData(did)
    } catch (err) {
      if ((err as { status?: number }).status === 404) throw new InvalidRequestError('Could not resolve DID')
      throw new UpstreamFailureError('Could not read the DID from the PLC directory')
    }
    const pds = data.services['atproto_pds']
    return { pdsEndpoint: pds?.endpoint, signingKey: data.verificationMethods['atproto'], rotationKeys: data.rotationKeys }
  }
  let resolved
  try {
    resolved = await d.identity.didResolver.resolveAtproto(did)
  } catch {
    throw new UpstreamFailureError('Could not resolve the DID document')
  }
  if (!resolved) throw new InvalidRequestError('Could not resolve DID')
  return { pdsEndpoint: resolved.pds, signingKey: resolved.signingKey }
}
