import type { Cid } from '@atproto/lex-data'
import { CborWriter } from '../dag-cbor.js'

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
