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

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * A CID's string form (`b` + base32), as `cid.toString()` gives it, without multiformats' cache:
 * that keeps every CID it has printed in a global WeakMap with a Map per CID, which on the write
 * path (dozens of CIDs a commit) made scavenges slower and some calls stall on the WeakMap's
 * rehash (profiled: most of the difference between the slowest 2% of createRecord calls and the
 * rest, after GC itself). CIDv0 (base58btc, no prefix) goes to multiformats.
 */
export function cidToString(cid: Cid): string {
  if (cid.version === 0) return cid.toString()
  const bytes = cid.bytes
  const codes: number[] = [0x62] // 'b'
  let buffer = 0
  let bits = 0
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      codes.push(BASE32.charCodeAt((buffer >>> bits) & 31))
    }
  }
  if (bits > 0) codes.push(BASE32.charCodeAt((buffer << (5 - bits)) & 31))
  return String.fromCharCode.apply(null, codes)
}
