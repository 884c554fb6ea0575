// A DID the test itself controls, registered with the PLC directory: the test plays the account's
// old server, holding its repo signing key (to sign service-auth tokens and repo commits) and its
// rotation key (to change the DID document).
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { createServiceJwt } from '@atproto/xrpc-server'
import * as assert from 'uvu/assert'

type Signer = Parameters<typeof plc.createOp>[0]['signer']
const signer = (k: Secp256k1Keypair) => k as unknown as Signer

export type OwnDid = { did: string; signingKey: Secp256k1Keypair; rotationKey: Secp256k1Keypair }

async function post(plcUrl: string, did: string, op: unknown): Promise<void> {
  const res = await fetch(`${plcUrl}/${did}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) })
  assert.is(res.status, 200, `PLC refused the operation: ${await res.text()}`)
}

/** A did:plc whose `#atproto` key is ours, claiming `handle`, at an old server that is no Carrel. */
export async function createOwnDid(plcUrl: string, handle: string): Promise<OwnDid> {
  const signingKey = await Secp256k1Keypair.create({ exportable: true })
  const rotationKey = await Secp256k1Keypair.create({ exportable: true })
  const { did, op } = await plc.createOp({
    signingKey: signingKey.did(),
    handle,
    pds: 'https://old-pds.example.com',
    rotationKeys: [rotationKey.did()],
    signer: signer(rotationKey),
  })
  await post(plcUrl, did, op)
  return { did, signingKey, rotationKey }
}

/** A did:plc whose document names no `#atproto` signing key at all. */
export async function createKeylessDid(plcUrl: string, handle: string): Promise<string> {
  const rotationKey = await Secp256k1Keypair.create()
  const op = await plc.signOperation(
    {
      type: 'plc_operation',
      rotationKeys: [rotationKey.did()],
      verificationMethods: {},
      alsoKnownAs: [`at://${handle}`],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://old-pds.example.com' } },
      prev: null,
    },
    signer(rotationKey),
  )
  const did = await plc.didForCreateOp(op)
  await post(plcUrl, did, op)
  return did
}

/** A service-auth token as any atproto server makes one (@atproto/xrpc-server). */
export function serviceToken(
  key: Secp256k1Keypair,
  claims: { iss: string; aud: string; lxm?: string | null; exp?: number },
): Promise<string> {
  return createServiceJwt({ iss: claims.iss, aud: claims.aud, lxm: claims.lxm === undefined ? 'com.atproto.server.createAccount' : claims.lxm, exp: claims.exp, keypair: key })
}

/** A JWT of our own making: any header and payload, signed with `key` (compact low-S). */
export async function customJwt(key: Secp256k1Keypair, header: object, payload: object): Promise<string> {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const signingInput = `${b64(header)}.${b64(payload)}`
  const sig = await key.sign(Buffer.from(signingInput, 'utf8'))
  return `${signingInput}.${Buffer.from(sig).toString('base64url')}`
}

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** The same token with its signature's S replaced by N - S: the high-S twin, valid for lax verifiers only. */
export function withHighS(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  const sValue = BigInt('0x' + sig.subarray(32).toString('hex'))
  const high = Buffer.concat([sig.subarray(0, 32), Buffer.from((N - sValue).toString(16).padStart(64, '0'), 'hex')])
  return `${h}.${p}.${high.toString('base64url')}`
}
