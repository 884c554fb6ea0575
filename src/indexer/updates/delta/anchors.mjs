// Content-defined anchors: places in a file chosen by its bytes alone (a gear rolling hash over
// the preceding 32 bytes), so that the same content gets the same anchors wherever it has moved
// to. The anchors of two files matched by key say where each part of the new one came from in the
// old one. Plain JavaScript, as the rest of the delta codec: it runs in a child process started
// from src/ or dist/ alike (see delta-worker.mjs).

/** 256 pseudo-random 32-bit words (splitmix32 from a fixed seed). */
function gearTable(seed) {
  const table = new Uint32Array(256)
  let s = seed >>> 0
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    table[i] = (z ^ (z >>> 16)) >>> 0
  }
  return table
}

const GEAR_A = gearTable(0x63617272)
const GEAR_B = gearTable(0x656c6470)

/**
 * The rolling state of an anchor scan over one stream read in pieces. An anchor is a position
 * where the first hash has `bits` low zero bits (about one every 2^bits bytes), at least
 * 2^(bits-2) bytes after the previous one (so that a run of one byte value does not anchor
 * everywhere). Its key is both hashes, 64 - bits bits: different 32-byte contexts get different
 * keys all but by chance.
 */
export class AnchorScanner {
  constructor(bits) {
    if (!(bits >= 11 && bits <= 24)) throw new Error('anchor bits must be 11..24')
    this.bits = bits
    this.mask = (1 << bits) - 1
    this.minGap = 1 << (bits - 2)
    this.a = 0
    this.b = 0
    this.last = -Infinity
  }

  /** Scans `bytes`, which start at `offset` of the stream; calls `found(position, key)` for each anchor (position = just after its context). */
  scan(bytes, offset, found) {
    let a = this.a
    let b = this.b
    const mask = this.mask
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]
      a = ((a << 1) + GEAR_A[byte]) | 0
      b = ((b << 1) + GEAR_B[byte]) | 0
      if ((a & mask) === 0 && offset + i - this.last >= this.minGap) {
        this.last = offset + i
        found(offset + i + 1, (a >>> this.bits) * 4294967296 + (b >>> 0))
      }
    }
    this.a = a
    this.b = b
  }
}

/** Anchor bits for an old file of `size` bytes: an anchor every ~2 KiB, and at most ~256 Ki of them. */
export function anchorBits(size) {
  return Math.min(24, Math.max(11, Math.ceil(Math.log2(Math.max(1, size) / 262144))))
}
