import { encode as cborEncode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { base32 } from 'multiformats/bases/base32'

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A CARv1 file in memory from blocks keyed by base32 CID string (firehose slices, proofs). */
export function encodeCar(root: Cid, blocks: Iterable<[string, Uint8Array]>): Uint8Array {
  const header = cborEncode({ version: 1, roots: [root] })
  const parts: Uint8Array[] = [Uint8Array.from(varint(header.length)), header]
  let size = parts[0].length + header.length
  for (const [cidStr, bytes] of blocks) {
    const cid = base32.decode(cidStr)
    const len = Uint8Array.from(varint(cid.length + bytes.length))
    parts.push(len, cid, bytes)
    size += len.length + cid.length + bytes.length
  }
  const out = new Uint8Array(size)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}
