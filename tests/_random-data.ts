// Seeded random atproto data for the differential tests: the same seed gives the same values, so
// a failure is reproduced with TEST_SEED=<seed printed by the test>.
import { createHash } from 'node:crypto'
import type { Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'

/** The seed of this run: TEST_SEED when set, else a fresh one. */
export function testSeed(): number {
  const fromEnv = process.env.TEST_SEED
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer, got ${fromEnv}`)
  return seed >>> 0
}

/** mulberry32: a tiny seeded generator of floats in [0, 1), for data that must be the same every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A small seeded generator (xorshift32 seeded through splitmix32): reproducible, not secure. */
export class Rng {
  private state: number

  constructor(seed: number) {
    let z = (seed + 0x9e3779b9) | 0
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    this.state = (z ^ (z >>> 16)) | 1
  }

  /** A float in [0, 1). */
  next(): number {
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x
    return (x >>> 0) / 2 ** 32
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const x = (this.next() * 2 ** 32) >>> 0
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (x >>> (j * 8)) & 0xff
    }
    return out
  }

  /**
   * A length: mostly small, else next to a CBOR head-width boundary (23/24, 255/256, and
   * rarely 65535/65536 when `max` allows).
   */
  cborLength(max: number): number {
    const r = this.next()
    if (r < 0.7) return this.int(Math.min(max, 40))
    const boundary = r < 0.85 ? 24 : r < 0.995 || max < 65537 ? 256 : 65536
    return Math.max(0, Math.min(max, boundary - 2 + this.int(4)))
  }
}

// ---- CIDs --------------------------------------------------------------------------------------

const CODECS = [0x71, 0x71, 0x55, 0x70, 0x0129, 0x0200, 0x300001] // dag-cbor, raw, dag-pb, dag-json, json, a 3-byte varint
const HASHES: [code: number, length: number][] = [
  [0x12, 32], // sha2-256
  [0x13, 64], // sha2-512
  [0xb220, 32], // blake2b-256: a two-byte varint code
  [0x00, 0], // identity, empty
  [0x00, 5],
  [0x12, 20], // a truncated digest: other base32 tail lengths
  [0x00, 130], // a two-byte varint length
]

/** A CIDv1 of a random codec, hash code and digest length (the digest is random bytes). */
export function randomCidV1(rng: Rng): Cid {
  const [hash, len] = rng.chance(0.5) ? [0x12, 32] : rng.pick(HASHES)
  return CID.createV1(rng.pick(CODECS), createDigest(hash, rng.bytes(len))) as unknown as Cid
}

/** A CIDv0 (dag-pb, sha2-256): its string form is base58btc, not base32. */
export function randomCidV0(rng: Rng): Cid {
  return CID.createV0(createDigest(0x12, rng.bytes(32)) as never) as unknown as Cid
}

export function randomCid(rng: Rng): Cid {
  return rng.chance(0.1) ? randomCidV0(rng) : randomCidV1(rng)
}

/** A real dag-cbor CID (sha2-256 of some bytes). */
export function sha256CborCid(bytes: Uint8Array): Cid {
  return CID.createV1(0x71, createDigest(0x12, createHash('sha256').update(bytes).digest())) as unknown as Cid
}

// ---- map keys ----------------------------------------------------------------------------------

/**
 * Keys that break a key-order cache keyed by joined key names: each NUL-joined key equals the
 * join of a key list that common records use (a strong ref's {uri, cid}, a post's fields).
 */
export const HOSTILE_KEYS = ['uri\u0000cid', 'cid\u0000uri', 'text\u0000createdAt', '$type\u0000subject\u0000createdAt', 'a\u0000b', '\u0000', 'a\u0000', '\u0000a']

const PLAIN_KEYS = ['a', 'b', 'aa', 'ab', 'ba', 'Z', 'uri', 'cid', 'text', 'subject', 'createdAt', 'langs', 'x'.repeat(23), 'y'.repeat(24), '0', '1', '10', '-1', 'constructor', 'toString', 'hasOwnProperty']
const NON_ASCII_KEYS = ['ü', 'é\u0000', '日本語', '😀', 'a\u0080', 'Ω', 'z\u00ff', '\u007f']
const KEY_CHARS = ['a', 'b', 'Z', '0', '.', '-', '_', ' ', '\u0000', '\u0001', '\u001f', '\u007f', 'é', 'ß', '→', '日', '😀', '\ud800\udc00']

export type KeyOptions = {
  /** `$`-prefixed keys other than `$type` (the server refuses them in records) */
  dollarKeys: boolean
  /** the key `__proto__` (the server refuses it) */
  protoKey: boolean
}

let distinct = 0

/** A map key: plain, hostile, non-ASCII, `$`-prefixed, long, random, or never seen before. */
export function randomKey(rng: Rng, opts: KeyOptions): string {
  const key = anyKey(rng, opts)
  return !opts.dollarKeys && key.startsWith('$') && key !== '$type' ? key.slice(1) : key
}

function anyKey(rng: Rng, opts: KeyOptions): string {
  const r = rng.next()
  if (r < 0.3) return rng.pick(PLAIN_KEYS)
  if (r < 0.42) return rng.pick(HOSTILE_KEYS)
  if (r < 0.5) return rng.pick(NON_ASCII_KEYS)
  if (r < 0.55) return opts.dollarKeys ? rng.pick(['$type', '$link', '$bytes', '$foo', '$']) : '$type'
  if (r < 0.6) return 'k'.repeat(rng.pick([100, 255, 256, 1000])) + rng.int(3)
  if (r < 0.62 && opts.protoKey) return '__proto__'
  if (r < 0.75) {
    let s = ''
    const n = 1 + rng.int(12)
    for (let i = 0; i < n; i++) s += rng.pick(KEY_CHARS)
    return s
  }
  // a shape no earlier value had: keeps adding shapes to any cache
  return `s${(distinct++).toString(36)}`
}

/** An object with own properties for exactly these entries (`__proto__` included as a key). */
export function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  return Object.fromEntries(entries)
}

// ---- values ------------------------------------------------------------------------------------

const STRINGS = ['', 'a', 'hello', 'é', '☎', '😀', 'a\u0000b', '\u0000', 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7u4hzxkx22c']

export function randomString(rng: Rng): string {
  const r = rng.next()
  if (r < 0.5) return rng.pick(STRINGS)
  if (r < 0.8) {
    let s = ''
    const n = rng.cborLength(300)
    for (let i = 0; i < n; i++) s += rng.pick(KEY_CHARS)
    return s
  }
  // ASCII around the writer's 128-character fast path, and multi-byte strings past 255 bytes
  return rng.pick(['x', 'é', '😀']).repeat(rng.pick([127, 128, 129, 255, 256, 1000]))
}

const INT_EDGES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 52, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER]

export function randomInteger(rng: Rng): number {
  const r = rng.next()
  let n: number
  if (r < 0.4) n = rng.int(100)
  else if (r < 0.7) n = rng.pick(INT_EDGES)
  else if (r < 0.85) n = Math.floor(rng.next() * 2 ** (1 + rng.int(53)))
  else n = Number.MAX_SAFE_INTEGER - rng.int(1000) // near 2^53
  if (!rng.chance(0.35)) return n
  const negative = -n - rng.int(2)
  return Number.isSafeInteger(negative) ? negative || 0 : -n
}

export type ValueOptions = KeyOptions & {
  /** atproto values: CIDs and Uint8Arrays; else their JSON forms ({$link}, {$bytes}) */
  lex: boolean
  /** the deepest nesting (maps and arrays) */
  maxDepth: number
  /** the longest byte string */
  maxBytes: number
}

/** A random data-model value: scalars, CID links, bytes, nested arrays and maps. */
export function randomValue(rng: Rng, opts: ValueOptions, depth = 0): unknown {
  const r = rng.next()
  // the deeper, the likelier a scalar: values stay around a kilobyte
  if (depth >= opts.maxDepth || r < 0.4 + depth * 0.12) return randomScalar(rng, opts)
  if (r < 0.7) {
    // now and then a long array of scalars (array heads past 23 and 255)
    if (rng.chance(0.05)) return Array.from({ length: rng.cborLength(300) }, () => randomScalar(rng, opts))
    return Array.from({ length: rng.int(5) }, () => randomValue(rng, opts, depth + 1))
  }
  return randomMap(rng, opts, depth + 1)
}

function randomScalar(rng: Rng, opts: ValueOptions): unknown {
  const kind = rng.int(8)
  if (kind === 0) return null
  if (kind === 1) return rng.chance(0.5)
  if (kind === 2 || kind === 3) return randomInteger(rng)
  if (kind === 4 || kind === 5) return randomString(rng)
  if (kind === 6) {
    const bytes = rng.bytes(rng.cborLength(opts.maxBytes))
    return opts.lex ? bytes : { $bytes: Buffer.from(bytes).toString('base64') }
  }
  if (opts.lex) return randomCid(rng)
  // JSON: a CIDv1 whose string the server takes (at most 128 characters)
  let cid = randomCidV1(rng)
  while (cid.toString().length > 128) cid = randomCidV1(rng)
  return { $link: cid.toString() }
}

export function randomMap(rng: Rng, opts: ValueOptions, depth = 0): Record<string, unknown> {
  const entries: [string, unknown][] = []
  const seen = new Set<string>()
  // now and then more than 23 keys (a two-byte map head)
  const n = rng.chance(0.03) ? 24 + rng.int(20) : rng.int(7)
  for (let i = 0; i < n; i++) {
    const key = randomKey(rng, opts)
    if (seen.has(key)) continue
    seen.add(key)
    // a JSON $type must be a non-empty string that is not "blob" (that makes a blob ref)
    const value = key === '$type' && !opts.dollarKeys ? `com.example.t${rng.int(5)}` : randomValue(rng, opts, depth + 1)
    entries.push([key, value])
  }
  return objectOf(entries)
}
