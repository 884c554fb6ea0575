import { encode as lexCborEncode, type LexValue } from '@atproto/lex-cbor'

/*
 * DAG-CBOR encoding for the write path: records, commits and firehose frames.
 *
 * The generic encoder (cborg, through @atproto/lex-cbor) tokenises every value, then sorts each
 * map's keys by converting both keys of every comparison to bytes; for a one-record commit that
 * was a fifth of the request's garbage. This writer handles the values the write path produces
 * (null, booleans, safe integers, strings, bytes, CIDs, arrays and plain objects with ASCII
 * keys, whose sorted order is cached per shape: see below) and hands anything else (floats,
 * non-ASCII keys, class instances such as BlobRef) to @atproto/lex-cbor, so the bytes are always
 * exactly the generic encoder's (tests/dag-cbor.test.ts compares them on the interop data-model
 * fixtures and random values). As in @atproto/lex-cbor, undefined object properties are
 * left out.
 */

const NULL = 0xf6

class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported()

type CidLike = { asCID: unknown; bytes: Uint8Array }

function isCid(value: object): value is CidLike {
  return (value as CidLike).asCID === value && (value as CidLike).bytes instanceof Uint8Array
}

/*
 * The sorted key list of each object shape seen, in a trie over the key strings in
 * `Object.keys` order: a shape is found by the exact sequence of its keys, so two different key
 * lists never share an entry, whatever characters the keys hold (a cache keyed by the keys joined
 * with a separator let one account's record with a NUL in a key change how everyone's records
 * with the matching keys were encoded). Walking the trie also costs less than building and
 * hashing a joined string (bench/dag-cbor.ts). Only shapes whose keys are all ASCII get in:
 * other keys are sorted by their UTF-8 bytes, which the fallback encoder does.
 */
type ShapeNode = { next: Map<string, ShapeNode> | null; sorted: string[] | null }

/**
 * The trie is dropped and started again past 8192 nodes (~200 bytes each) or 1 MiB of key
 * characters, so it stays within a few MB whatever records are written.
 */
const MAX_SHAPE_NODES = 8192
const MAX_SHAPE_KEY_CHARS = 1 << 20
/** Objects with more keys than this are sorted every time rather than cached. */
const MAX_CACHED_KEYS = 256

let shapes: ShapeNode = { next: null, sorted: null }
let shapeNodes = 0
let shapeKeyChars = 0

/** DAG-CBOR map key order: shorter first, then bytewise (for ASCII keys, string order). */
function compareKeys(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj)
  let node: ShapeNode | undefined = shapes
  for (let i = 0; i < keys.length && node; i++) node = node.next?.get(keys[i])
  if (node?.sorted) return node.sorted
  for (const k of keys) {
    for (let i = 0; i < k.length; i++) if (k.charCodeAt(i) > 0x7f) throw UNSUPPORTED
  }
  const sorted = [...keys].sort(compareKeys)
  if (keys.length > MAX_CACHED_KEYS) return sorted
  let chars = 0
  for (const k of keys) chars += k.length
  if (shapeNodes + keys.length > MAX_SHAPE_NODES || shapeKeyChars + chars > MAX_SHAPE_KEY_CHARS) {
    shapes = { next: null, sorted: null }
    shapeNodes = 0
    shapeKeyChars = 0
  }
  node = shapes
  for (const k of keys) {
    let child: ShapeNode | undefined = node.next?.get(k)
    if (!child) {
      child = { next: null, sorted: null }
      ;(node.next ??= new Map()).set(k, child)
      shapeNodes++
      shapeKeyChars += k.length
    }
    node = child
  }
  node.sorted = sorted
  return sorted
}

/** A growable buffer of CBOR items, for encoders that know their values' shape. */
export class CborWriter {
  buf: Buffer
  pos = 0

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

  private ensure(n: number) {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  head(major: number, n: number) {
    this.ensure(9)
    const m = major << 5
    const b = this.buf
    if (n < 24) b[this.pos++] = m | n
    else if (n < 0x100) {
      b[this.pos++] = m | 24
      b[this.pos++] = n
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25
      b[this.pos++] = n >>> 8
      b[this.pos++] = n & 0xff
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26
      b[this.pos++] = n >>> 24
      b[this.pos++] = (n >>> 16) & 0xff
      b[this.pos++] = (n >>> 8) & 0xff
      b[this.pos++] = n & 0xff
    } else {
      const hi = Math.floor(n / 0x100000000)
      const lo = n >>> 0
      b[this.pos++] = m | 27
      b[this.pos++] = hi >>> 24
      b[this.pos++] = (hi >>> 16) & 0xff
      b[this.pos++] = (hi >>> 8) & 0xff
      b[this.pos++] = hi & 0xff
      b[this.pos++] = lo >>> 24
      b[this.pos++] = (lo >>> 16) & 0xff
      b[this.pos++] = (lo >>> 8) & 0xff
      b[this.pos++] = lo & 0xff
    }
  }

  bytes(data: Uint8Array) {
    this.head(2, data.length)
    this.ensure(data.length)
    this.buf.set(data, this.pos)
    this.pos += data.length
  }

  string(s: string) {
    const n = s.length
    // short ASCII strings (keys, DIDs, TIDs, NSIDs): no encoder call
    if (n < 128) {
      let ascii = true
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) > 0x7f) {
          ascii = false
          break
        }
      }
      if (ascii) {
        this.head(3, n)
        this.ascii(s, 0)
        return
      }
    }
    const len = Buffer.byteLength(s, 'utf8')
    this.head(3, len)
    this.ensure(len)
    this.buf.write(s, this.pos, len, 'utf8')
    this.pos += len
  }

  byte(b: number) {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  /** A CID: tag 42 over a byte string of the identity multibase prefix and the CID's bytes. */
  cid(cid: { bytes: Uint8Array }) {
    const bytes = cid.bytes
    this.ensure(2)
    this.buf[this.pos++] = 0xd8
    this.buf[this.pos++] = 0x2a
    this.head(2, bytes.length + 1)
    this.ensure(bytes.length + 1)
    this.buf[this.pos++] = 0
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  cidOrNull(cid: { bytes: Uint8Array } | null) {
    if (cid === null) this.byte(NULL)
    else this.cid(cid)
  }

  /** The characters of an ASCII string from `start`, as a byte string. */
  asciiBytes(s: string, start: number) {
    this.head(2, s.length - start)
    this.ascii(s, start)
  }

  /** The characters of an ASCII string from `start`, one byte each, after a head. */
  private ascii(s: string, start: number) {
    this.ensure(s.length - start)
    const b = this.buf
    for (let i = start; i < s.length; i++) b[this.pos++] = s.charCodeAt(i)
  }

  /** A copy of exactly the written bytes (allocUnsafe may hand out a slice of a shared pool). */
  finish(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.pos))
  }

  value(v: unknown, depth: number) {
    if (depth > 128) throw UNSUPPORTED
    switch (typeof v) {
      case 'string':
        return this.string(v)
      case 'boolean':
        return this.byte(v ? 0xf5 : 0xf4)
      case 'number':
        if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw UNSUPPORTED
        if (v >= 0) this.head(0, v)
        else this.head(1, -1 - v)
        return
      case 'object': {
        if (v === null) return this.byte(NULL)
        if (v instanceof Uint8Array) return this.bytes(v)
        if (Array.isArray(v)) {
          this.head(4, v.length)
          for (const item of v) {
            if (item === undefined) throw UNSUPPORTED
            this.value(item, depth + 1)
          }
          return
        }
        if (isCid(v)) return this.cid(v)
        const proto = Object.getPrototypeOf(v)
        if (proto !== Object.prototype && proto !== null) throw UNSUPPORTED
        const obj = v as Record<string, unknown>
        const keys = sortedKeys(obj)
        let present = 0
        for (const k of keys) if (obj[k] !== undefined) present++
        this.head(5, present)
        for (const k of keys) {
          const item = obj[k]
          if (item === undefined) continue
          this.string(k)
          this.value(item, depth + 1)
        }
        return
      }
      default:
        throw UNSUPPORTED
    }
  }
}

/** The DAG-CBOR bytes of a data-model value, identical to @atproto/lex-cbor's `encode`. */
export function encodeDagCbor(value: unknown): Uint8Array {
  const w = new CborWriter()
  try {
    w.value(value, 0)
  } catch (err) {
    if (err === UNSUPPORTED) return lexCborEncode(value as LexValue)
    throw err
  }
  return w.finish()
}
