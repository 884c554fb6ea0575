import { encodeDagCbor } from '../dag-cbor.js'
import { parseCid, type Cid } from '@atproto/lex-data'

// CARv1 framing from CID strings, without building CID objects (see writeCidBytes)

// base32 (RFC 4648, lower case) digit values; -1 = not a digit. 256 entries so that any
// charCode & 0xff indexes it (charCodes ≥ 256 are caught separately).
const B32 = new Int8Array(256).fill(-1)
for (let i = 0; i < 32; i++) B32['abcdefghijklmnopqrstuvwxyz234567'.charCodeAt(i)] = i

/**
 * Writes the binary form of a base32 (multibase `b`) CID string into `out` at `off`, returning
 * the length. Much faster than parsing a CID object per block (this runs once per block of an
 * export); falls back to the CID parser for other encodings.
 */
export function writeCidBytes(cid: string, out: Uint8Array, off: number): number {
  if (cid.charCodeAt(0) !== 0x62 /* b */) {
    const bytes = parseCid(cid).bytes
    out.set(bytes, off)
    return bytes.length
  }
  const end = cid.length
  let i = 1
  let o = off
  // 8 digits -> 5 bytes
  while (i + 8 <= end) {
    const c0 = cid.charCodeAt(i)
    const c1 = cid.charCodeAt(i + 1)
    const c2 = cid.charCodeAt(i + 2)
    const c3 = cid.charCodeAt(i + 3)
    const c4 = cid.charCodeAt(i + 4)
    const c5 = cid.charCodeAt(i + 5)
    const c6 = cid.charCodeAt(i + 6)
    const c7 = cid.charCodeAt(i + 7)
    if ((c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) > 0xff) throw new Error(`invalid CID in block table: ${cid}`)
    const a = B32[c0]!
    const b = B32[c1]!
    const c = B32[c2]!
    const d = B32[c3]!
    const e = B32[c4]!
    const f = B32[c5]!
    const g = B32[c6]!
    const h = B32[c7]!
    if ((a | b | c | d | e | f | g | h) < 0) throw new Error(`invalid CID in block table: ${cid}`)
    out[o] = (a << 3) | (b >> 2)
    out[o + 1] = ((b & 3) << 6) | (c << 1) | (d >> 4)
    out[o + 2] = ((d & 15) << 4) | (e >> 1)
    out[o + 3] = ((e & 1) << 7) | (f << 2) | (g >> 3)
    out[o + 4] = ((g & 7) << 5) | h
    i += 8
    o += 5
  }
  // the tail: fewer than 8 digits
  let bits = 0
  let acc = 0
  for (; i < end; i++) {
    const ch = cid.charCodeAt(i)
    const v = ch <= 0xff ? B32[ch]! : -1
    if (v < 0) throw new Error(`invalid CID in block table: ${cid}`)
    acc = ((acc << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return o - off
}

export function writeVarint(n: number, out: Uint8Array, off: number): number {
  let o = off
  while (n >= 0x80) {
    out[o++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[o++] = n
  return o - off
}

export function carHeader(root: Cid | null): Buffer {
  const header = encodeDagCbor({ version: 1, roots: root ? [root] : [] })
  const out = Buffer.allocUnsafe(header.length + 10)
  const n = writeVarint(header.length, out, 0)
  out.set(header, n)
  return out.subarray(0, n + header.length)
}

/** A CARv1 file in memory from blocks keyed by base32 CID string (firehose slices, proofs). */
export function encodeCar(root: Cid, blocks: Iterable<[string, Uint8Array]>): Uint8Array {
  const header = carHeader(root)
  const list = [...blocks]
  let size = header.length
  for (const [cid, bytes] of list) size += 10 + cid.length + bytes.length
  const out = Buffer.allocUnsafe(size)
  out.set(header, 0)
  let off = header.length
  const cidBuf = Buffer.allocUnsafe(128)
  for (const [cid, bytes] of list) {
    const cidLen = writeCidBytes(cid, cidBuf, 0)
    off += writeVarint(cidLen + bytes.length, out, off)
    cidBuf.copy(out, off, 0, cidLen)
    off += cidLen
    out.set(bytes, off)
    off += bytes.length
  }
  return new Uint8Array(out.buffer, out.byteOffset, off)
}
