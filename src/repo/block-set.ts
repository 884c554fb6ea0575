import type { BlockMap, CidSet } from '@atproto/repo'

/*
 * @atproto/repo's BlockMap and CidSet key their entries by CID string, but their public
 * iterators parse every string back into a CID object, which profiling showed to be a tenth of
 * a commit's CPU time. The write path only needs the strings: these read the underlying
 * collections directly (falling back to the public API if their shape ever changes).
 */

export function blockEntries(blocks: BlockMap): Iterable<[string, Uint8Array]> {
  const inner = (blocks as unknown as { map?: unknown }).map
  if (inner instanceof Map) return inner as Map<string, Uint8Array>
  return [...blocks].map(([cid, bytes]) => [cid.toString(), bytes] as [string, Uint8Array])
}

export function cidStrings(set: CidSet): Iterable<string> {
  const inner = (set as unknown as { set?: unknown }).set
  if (inner instanceof Set) return inner as Set<string>
  return set.toList().map((c) => c.toString())
}

/** Blocks by CID string, in insertion order. */
export class BlockSet extends Map<string, Uint8Array> {
  addAll(entries: Iterable<[string, Uint8Array]>): this {
    for (const [cid, bytes] of entries) this.set(cid, bytes)
    return this
  }

  get byteSize(): number {
    let n = 0
    for (const bytes of this.values()) n += bytes.length
    return n
  }
}
