import type { Cid } from '@atproto/lex-data'
import { encodeDagCbor } from '../dag-cbor.js'
import { cidForCborBytes } from './cid.js'
import type { SigningKey } from './signing-key.js'

/**
 * A signed repo commit (v3): the signature covers the DAG-CBOR encoding of the unsigned
 * commit, as @atproto/repo's signCommit does; the signed commit adds `sig`.
 */
export function signCommit(key: SigningKey, fields: { did: string; rev: string; data: Cid }): { bytes: Uint8Array; cid: Cid } {
  const unsigned = { did: fields.did, version: 3, rev: fields.rev, prev: null, data: fields.data }
  const sig = key.signSync(encodeDagCbor(unsigned))
  const bytes = encodeDagCbor({ ...unsigned, sig })
  return { bytes, cid: cidForCborBytes(bytes) }
}
