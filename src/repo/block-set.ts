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
