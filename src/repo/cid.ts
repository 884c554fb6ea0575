import { hash } from 'node:crypto'
import { encodeDagCbor } from '../dag-cbor.js'
import type { Cid, LexValue } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'

const DAG_CBOR = 0x71
const SHA2_256 = 0x12

/** CID (v1, dag-cbor, sha2-256) of already-encoded DAG-CBOR bytes. */
export function cidForCborBytes(bytes: Uint8Array): Cid {
  return CID.createV1(DAG_CBOR, createDigest(SHA2_256, hash('sha256', bytes, 'buffer'))) as unknown as Cid
}

export function encodeRecord(value: LexValue): { bytes: Uint8Array; cid: Cid } {
  const bytes = encodeDagCbor(value)
  return { bytes, cid: cidForCborBytes(bytes) }
}
