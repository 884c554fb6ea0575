import type { Cid } from '@atproto/lex-data'

/** What an MST node's entry list holds: subtrees (with their CID) and leaves (key -> record CID). */
export type MstNodeEntry = { isLeaf(): boolean } & ({ pointer: Cid } | { key: string; value: Cid })

/*
 * The DAG-CBOR encoding of an MST node, written directly. A node always has the same shape,
 *   {e: [{k: bytes, p: uint, t: CID | null, v: CID}, ...], l: CID | null}
 * (map keys in DAG-CBOR order: shorter first, then bytewise, so e < l and k < p < t < v),
 * so there is nothing for a generic encoder to discover; cborg's tokeniser made MST nodes the
 * single most expensive part of a one-record commit. The bytes are identical to
 * `encode(mstUtil.serializeNodeData(entries))` (tests/mst-encoding.test.ts checks it).
 */

const TAG_CID = [0xd8, 0x2a]
const NULL = 0xf6

class Writer {
  buf: Uint8Array
  pos = 0
  constructor(size: number) {
    this.buf = new Uint8Array(size)
  }
  private ensure(n: number) {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }
  byte(b: number) {
    this.ensure(1)
    this.buf[this.pos++] = b
  }
  /** a CBOR head: major type and argument */
  head(major: number, n: number) {
    this.ensure(9)
    const m = major << 5
    if (n < 24) this.buf[this.pos++] = m | n
    else if (n < 0x100) {
      this.buf[this.pos++] = m | 24
      this.buf[this.pos++] = n
    } else if (n < 0x10000) {
      this.buf[this.pos++] = m | 25
      this.buf[this.pos++] = n >> 8
      this.buf[this.pos++] = n & 0xff
    } else {
      this.buf[this.pos++] = m | 26
      this.buf[this.pos++] = (n >>> 24) & 0xff
      this.buf[this.pos++] = (n >> 16) & 0xff
      this.buf[this.pos++] = (n >> 8) & 0xff
      this.buf[this.pos++] = n & 0xff
    }
  }
  /** a one-character text key */
  key(ch: number) {
    this.ensure(2)
    this.buf[this.pos++] = 0x61
    this.buf[this.pos++] = ch
  }
  cid(cid: Cid) {
    const bytes = cid.bytes
    this.ensure(bytes.length + 12)
    this.buf[this.pos++] = TAG_CID[0]
    this.buf[this.pos++] = TAG_CID[1]
    this.head(2, bytes.length + 1)
    this.buf[this.pos++] = 0 // the multibase identity prefix DAG-CBOR puts before CID bytes
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }
  cidOrNull(cid: Cid | null) {
    if (cid === null) this.byte(NULL)
    else this.cid(cid)
  }
  /** an ASCII string's characters from `start`, as a byte string */
  asciiBytes(s: string, start: number) {
    const n = s.length - start
    this.head(2, n)
    this.ensure(n)
    for (let i = start; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i)
  }
}

const K = 0x6b
const P = 0x70
const T = 0x74
const V = 0x76
const E = 0x65
const L = 0x6c

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++
  return i
}

/** A node's leaf as it is written: the full key, the record CID and the subtree to its right. */
export type MstLeaf = { key: string; value: Cid; right: Cid | null }

/** Encodes a node: the subtree left of every key, then the leaves in key order. */
export function encodeMstNodeData(left: Cid | null, leaves: readonly MstLeaf[]): Uint8Array {
  const w = new Writer(16 + leaves.length * 120)
  w.byte(0xa2)
  w.key(E)
  w.head(4, leaves.length)
  let lastKey = ''
  for (const { key, value, right } of leaves) {
    const prefix = commonPrefixLength(lastKey, key)
    w.byte(0xa4)
    w.key(K)
    w.asciiBytes(key, prefix)
    w.key(P)
    w.head(0, prefix)
    w.key(T)
    w.cidOrNull(right)
    w.key(V)
    w.cid(value)
    lastKey = key
  }
  w.key(L)
  w.cidOrNull(left)
  return w.buf.slice(0, w.pos)
}

/**
 * Encodes a node from @atproto/repo's entry list (every subtree's pointer must be current).
 * Keys are the MST's validated ASCII keys; the list must alternate as MST nodes require (no
 * two subtrees side by side), which is checked.
 */
export function encodeMstNode(entries: readonly MstNodeEntry[]): Uint8Array {
  let i = 0
  let left: Cid | null = null
  if (entries.length > 0 && !entries[0].isLeaf()) {
    left = (entries[0] as { pointer: Cid }).pointer
    i = 1
  }
  const leaves: MstLeaf[] = []
  while (i < entries.length) {
    const leaf = entries[i]
    if (!leaf.isLeaf()) throw new Error('Not a valid node: two subtrees next to each other')
    const next = entries[i + 1]
    i++
    let right: Cid | null = null
    if (next !== undefined && !next.isLeaf()) {
      right = (next as { pointer: Cid }).pointer
      i++
    }
    const { key, value } = leaf as { key: string; value: Cid }
    leaves.push({ key, value, right })
  }
  return encodeMstNodeData(left, leaves)
}
