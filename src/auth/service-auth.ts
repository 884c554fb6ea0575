import { randomUUID } from 'node:crypto'
import { verifySignature } from '@atproto/crypto'
import { isValidDid } from '@atproto/syntax'
import { AuthRequiredError, verifyJwt, XRPCError } from '@atproto/xrpc-server'

/*
 * Inter-service authentication (atproto.com specs/xrpc, "Inter-Service Authentication"): a JWT
 * `{typ: JWT, alg: ES256K|ES256}` `{iss, aud, exp, iat, lxm, jti}` signed with the account's repo
 * signing key, compact low-S, base64url. Tokens are made here (the same form as
 * @atproto/xrpc-server's createServiceJwt, at a fraction of its cost); xrpc-server's verifyJwt
 * does the claim checks of tokens that come in. This module pins what Carrel adds: signatures are
 * verified strictly (compact low-S only, as atproto's cryptography spec requires; the reference
 * also accepts high-S and DER here), and a token that does not even parse is BadJwt, not a 500.
 */

/** The claims of a verified service-auth token. */
export type ServiceJwtClaims = { iss: string; aud: string; exp: number; lxm?: string; jti?: string }

/** A secp256k1 key that signs at once, compact low-S (the repo's SigningKey). */
export type Secp256k1Signer = { signSync(msg: Uint8Array): Uint8Array }

/** The header of every token this server signs (its keys are secp256k1): `{"typ":"JWT","alg":"ES256K"}`. */
const ES256K_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256K' })).toString('base64url')

/** What a service-auth token says: for `aud` (a service DID, or `did#serviceId`) to call `lxm` (null: any method) as `iss`. */
export type ServiceJwtRequest = { iss: string; aud: string; lxm: string | null; exp?: number }

/**
 * The part of a fresh token that is signed, `header.claims` in base64url: the claims in
 * xrpc-server's createServiceJwt order `{iat, iss, aud, exp, lxm, jti}`, `exp` (seconds since the
 * epoch) one minute after now by default, a random 128-bit jti (randomUUID draws from a cached
 * pool: createServiceJwt's fresh 16-byte random read was a tenth of a proxied call's time).
 */
export function serviceJwtSigningInput(req: ServiceJwtRequest): string {
  const iat = Math.floor(Date.now() / 1000)
  const claims: Record<string, string | number> = { iat, iss: req.iss, aud: req.aud, exp: req.exp ?? iat + 60 }
  if (req.lxm !== null) claims.lxm = req.lxm
  claims.jti = randomUUID().replaceAll('-', '')
  return `${ES256K_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
}

/** The token: its signing input and the compact signature over it. */
export function signedServiceJwt(signingInput: string, sig: Uint8Array): string {
  return `${signingInput}.${Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('base64url')}`
}

/** A fresh token signed now with `key` (the account's repo signing key). */
export function signServiceJwt(req: ServiceJwtRequest & { key: Secp256k1Signer }): string {
  const input = serviceJwtSigningInput(req)
  return signedServiceJwt(input, req.key.signSync(Buffer.from(input)))
}

const strictSignature = (key: string, msg: Uint8Array, sig: Uint8Array, alg: string): Promise<boolean> =>
  verifySignature(key, msg, sig, { jwtAlg: alg, allowMalleableSig: false })

/**
 * Verifies a service-auth token made for this server (`aud`, exactly) and method `lxm`: its
 * type, expiry, audience, method, issuer, then its signature against `signingKeyOf(iss)` (the
 * issuer's `#atproto` key, as a did:key). 401 with the library's names: BadJwt, BadJwtType,
 * JwtExpired, BadJwtAudience, BadJwtLexiconMethod, BadJwtIss, BadJwtSignature. Errors thrown
 * by `signingKeyOf` (an unresolvable DID...) pass through.
 */
export async function verifyServiceJwt(
  token: string,
  opts: { aud: string; lxm: string; signingKeyOf: (iss: string) => Promise<string> },
): Promise<ServiceJwtClaims> {
  // verifyJwt asks again ("fresh") after a bad signature, for resolvers with a cache; ours reads
  // the document afresh each time, so one read per token is enough
  let key: Promise<string> | undefined
  const signingKeyOf = (iss: string) => (key ??= opts.signingKeyOf(iss))
  try {
    return await verifyJwt(token, opts.aud, opts.lxm, signingKeyOf, strictSignature)
  } catch (err) {
    if (err instanceof XRPCError) throw err
    // a header or payload that is not base64url JSON
    throw new AuthRequiredError('poorly formatted jwt', 'BadJwt')
  }
}

const DID_PLC = /^did:plc:[a-z2-7]{24}$/
/** hostname-level did:web only (a port, percent-encoded, for development) */
const DID_WEB = /^did:web:[a-zA-Z0-9.-]+(%3[aA][0-9]{1,5})?$/
const FRAGMENT = /^[a-zA-Z0-9._~-]+$/

/** A DID we can resolve (did:plc, hostname-level did:web). */
export function isAtprotoDid(did: string): boolean {
  return isValidDid(did) && (DID_PLC.test(did) || DID_WEB.test(did))
}

/** What a service-auth token may be addressed to: an atproto DID, or `did#serviceId`. */
export function isServiceAudience(aud: string): boolean {
  const hash = aud.indexOf('#')
  if (hash === -1) return isAtprotoDid(aud)
  return isAtprotoDid(aud.slice(0, hash)) && FRAGMENT.test(aud.slice(hash + 1))
}
