import type { Cid } from '@atproto/lex-data'
import { CborWriter } from '../dag-cbor.js'

/*
 * The DAG-CBOR encoding of an MST node, written directly. A node always has the same shape,
 *   {e: [{k: bytes, p: uint, t: CID | null, v: CID}, ...], l: CID | null}
 * (map keys in DAG-CBOR order: shorter first, then bytewise, so e < l and k < p < t < v),
 * so there is nothing for a generic encoder to discover; cborg's tokeniser made MST nodes the
 * single most expensive part of a one-record commit. The bytes are identical to
 * @atproto/repo's `encode(mstUtil.serializeNodeData(entries))` (tests/mst-encoding.test.ts).
 */

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
  const w = new CborWriter(16 + leaves.length * 120)
  w.byte(0xa2)
  w.string('e')
  w.head(4, leaves.length)
  let lastKey = ''
  for (const { key, value, right } of leaves) {
    const prefix = commonPrefixLength(lastKey, key)
    w.byte(0xa4)
    w.string('k')
    w.asciiBytes(key, prefix)
    w.string('p')
    w.head(0, prefix)
    w.string('t')
    w.cidOrNull(right)
    w.string('v')
    w.cid(value)
    lastKey = key
  }
  w.string('l')
  w.cidOrNull(left)
  return w.finish()
}
