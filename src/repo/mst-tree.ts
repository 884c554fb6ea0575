import { hash } from 'node:crypto'
import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { cidForCborBytes, cidToString } from './cid.js'
import { encodeMstNodeData, type MstLeaf } from './mst-node-encoder.js'

/*
 * The repository's Merkle Search Tree, synchronous and edited in batches.
 *
 * @atproto/repo's MST is asynchronous at every node and copies the whole path for every
 * single key it adds; on our write path its promise chains and copies were most of the work of
 * a commit besides SQLite, and most of a 200-write batch's garbage. This tree reads nodes
 * through the synchronous block store, and an edit copies a stored node once, the first time
 * the edit touches it, and then changes the copy in place. The tree it started from is never
 * changed, so a failed commit leaves the cached tree as it was.
 *
 * The structure is the canonical one of the atproto spec: a key sits in the layer given by the
 * leading zero bits of its SHA-256 (two bits per layer); a node at layer L holds the keys of
 * height L in its range, and between them the subtrees (layer L - 1) of the keys in between,
 * with entry-less nodes standing in for layers that have no key of their own. The same keys
 * always give the same nodes, so the CIDs are those of every other implementation
 * (tests/mst-tree.test.ts compares every root, diff and proof with @atproto/repo's MST).
 */

export type BlockSource = { getBytesSync(cid: string): Uint8Array | null }

type Entry = { key: string; value: Cid; right: MstNode | null }

/** The height of a key: leading zero bits of its SHA-256, two per layer. */
export function keyHeight(key: string): number {
  const digest = hash('sha256', key, 'buffer')
  let zeros = 0
  for (const byte of digest) {
    if (byte === 0) {
      zeros += 4
      continue
    }
    zeros += (Math.clz32(byte) - 24) >> 1
    break
  }
  return zeros
}

export class MstNode {
  /** null until loaded from its block */
  entries: Entry[] | null
  left: MstNode | null = null
  /** the stored (or computed) CID; null while the node is being edited */
  cid: Cid | null
  bytes: Uint8Array | null = null
  /** the edit that created this node and may still change it in place */
  owner: MstEdit | null = null

  constructor(
    readonly layer: number,
    cid: Cid | null,
    entries: Entry[] | null,
  ) {
    this.cid = cid
    this.entries = entries
  }

  static empty(): MstNode {
    const node = new MstNode(0, null, [])
    node.seal()
    return node
  }

  /** A stored tree's root (its layer is read from its keys). */
  static load(source: BlockSource, cid: Cid): MstNode {
    const probe = new MstNode(0, cid, null)
    probe.load(source)
    const layer = probe.entries!.length > 0 ? keyHeight(probe.entries![0].key) : probe.left ? probe.left.layerFrom(source) + 1 : 0
    const root = new MstNode(layer, cid, null)
    root.load(source)
    return root
  }

  private layerFrom(source: BlockSource): number {
    this.load(source)
    if (this.entries!.length > 0) return keyHeight(this.entries![0].key)
    return this.left ? this.left.layerFrom(source) + 1 : 0
  }

  load(source: BlockSource): Entry[] {
    if (this.entries) return this.entries
    const cidStr = cidToString(this.cid!)
    const bytes = source.getBytesSync(cidStr)
    if (!bytes) throw new Error(`MST node ${cidStr} is missing`)
    const data = cborDecode(bytes) as unknown as { l: Cid | null; e: { p: number; k: Uint8Array; v: Cid; t: Cid | null }[] }
    const childLayer = this.layer - 1
    this.left = data.l ? new MstNode(childLayer, data.l, null) : null
    const entries: Entry[] = []
    let lastKey = ''
    for (const e of data.e) {
      const key = lastKey.slice(0, e.p) + String.fromCharCode(...e.k)
      entries.push({ key, value: e.v, right: e.t ? new MstNode(childLayer, e.t, null) : null })
      lastKey = key
    }
    this.bytes = bytes
    this.entries = entries
    return entries
  }

  /** Computes the CID of a node whose children all have theirs. */
  seal(): Cid {
    const leaves: MstLeaf[] = this.entries!.map((e) => ({ key: e.key, value: e.value, right: e.right ? e.right.cid! : null }))
    this.bytes = encodeMstNodeData(this.left ? this.left.cid! : null, leaves)
    this.cid = cidForCborBytes(this.bytes)
    this.owner = null
    return this.cid
  }

  /** The value stored under `key`, or null. */
  get(source: BlockSource, key: string): Cid | null {
    let node: MstNode | null = this
    while (node) {
      const entries = node.load(source)
      const i = lowerBound(entries, key)
      if (i < entries.length && entries[i].key === key) return entries[i].value
      node = i === 0 ? node.left : entries[i - 1].right
    }
    return null
  }
}

/** The first index whose key is >= `key`. */
function lowerBound(entries: Entry[], key: string): number {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (entries[mid].key < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class MstNotFoundError extends Error {}

export type MstEditResult = {
  root: MstNode
  /** blocks of every node this edit created */
  newBlocks: [string, Uint8Array][]
  /** stored nodes that are no longer part of the tree */
  removedCids: string[]
}

/**
 * One batch of changes to a tree. `put` and `delete` in any order, then `finish()` once: it
 * computes the new nodes' CIDs and what was added and removed. The starting tree is unchanged.
 */
export class MstEdit {
  private root: MstNode
  private replaced = new Map<string, Cid>()

  constructor(
    private readonly source: BlockSource,
    root: MstNode,
  ) {
    this.root = root
  }

  /** A node this edit may change: the node itself if this edit made it, else a copy. */
  private own(node: MstNode): MstNode {
    if (node.owner === this) return node
    const entries = node.load(this.source)
    if (node.cid) this.replaced.set(cidToString(node.cid), node.cid)
    const copy = new MstNode(node.layer, null, entries.map((e) => ({ ...e })))
    copy.left = node.left
    copy.owner = this
    return copy
  }

  private fresh(layer: number, left: MstNode | null, entries: Entry[]): MstNode {
    const node = new MstNode(layer, null, entries)
    node.left = left
    node.owner = this
    return node
  }

  private drop(node: MstNode): void {
    if (node.owner !== this && node.cid) this.replaced.set(cidToString(node.cid), node.cid)
  }

  put(key: string, value: Cid): void {
    const height = keyHeight(key)
    let root = this.root
    if (height > root.layer) {
      const isEmpty = root.load(this.source).length === 0 && root.left === null
      if (isEmpty) {
        this.drop(root)
        root = this.fresh(height, null, [])
      } else {
        while (root.layer < height) root = this.fresh(root.layer + 1, root, [])
      }
    }
    this.root = this.putIn(root, key, value, height)
  }

  delete(key: string): void {
    const root = this.deleteIn(this.root, key, keyHeight(key))
    this.root = root ?? this.fresh(0, null, [])
  }

  private putIn(node: MstNode, key: string, value: Cid, height: number): MstNode {
    const entries = node.load(this.source)
    const i = lowerBound(entries, key)
    if (height === node.layer) {
      const n = this.own(node)
      if (i < entries.length && entries[i].key === key) {
        n.entries![i].value = value
        return n
      }
      const straddling = i === 0 ? n.left : n.entries![i - 1].right
      const [lo, hi] = this.split(straddling, key)
      if (i === 0) n.left = lo
      else n.entries![i - 1].right = lo
      n.entries!.splice(i, 0, { key, value, right: hi })
      return n
    }
    // a lower key: into the subtree at its position, made (entry-less) if there is none
    const child = i === 0 ? node.left : entries[i - 1].right
    const updated = this.putIn(child ?? this.fresh(node.layer - 1, null, []), key, value, height)
    if (updated === child) return node
    const n = this.own(node)
    if (i === 0) n.left = updated
    else n.entries![i - 1].right = updated
    return n
  }

  /** Splits a subtree around a key it does not hold: the part before and the part after. */
  private split(node: MstNode | null, key: string): [MstNode | null, MstNode | null] {
    if (!node) return [null, null]
    const entries = node.load(this.source)
    const i = lowerBound(entries, key)
    const straddling = i === 0 ? node.left : entries[i - 1].right
    const [midLo, midHi] = this.split(straddling, key)
    // everything on one side: the node is unchanged
    if (i === entries.length && midHi === null && midLo === straddling) return [node, null]
    if (i === 0 && midLo === null && midHi === straddling) return [null, node]
    this.drop(node)
    const loEntries = entries.slice(0, i).map((e) => ({ ...e }))
    let lo: MstNode | null
    if (loEntries.length > 0) {
      loEntries[loEntries.length - 1].right = midLo
      lo = this.fresh(node.layer, node.left, loEntries)
    } else {
      lo = midLo ? this.fresh(node.layer, midLo, []) : null
    }
    const hiEntries = entries.slice(i).map((e) => ({ ...e }))
    const hi = hiEntries.length > 0 || midHi ? this.fresh(node.layer, midHi, hiEntries) : null
    return [lo, hi]
  }

  private deleteIn(node: MstNode, key: string, height: number): MstNode | null {
    const entries = node.load(this.source)
    const i = lowerBound(entries, key)
    if (height === node.layer) {
      if (i >= entries.length || entries[i].key !== key) throw new MstNotFoundError(`no key ${key} in the tree`)
      const n = this.own(node)
      const before = i === 0 ? n.left : n.entries![i - 1].right
      const merged = this.merge(before, n.entries![i].right)
      n.entries!.splice(i, 1)
      if (i === 0) n.left = merged
      else n.entries![i - 1].right = merged
      return this.orNull(n)
    }
    if (height > node.layer) throw new MstNotFoundError(`no key ${key} in the tree`)
    const child = i === 0 ? node.left : entries[i - 1].right
    if (!child) throw new MstNotFoundError(`no key ${key} in the tree`)
    const updated = this.deleteIn(child, key, height)
    const n = this.own(node)
    if (i === 0) n.left = updated
    else n.entries![i - 1].right = updated
    return this.orNull(n)
  }

  /** A node left with no keys and no subtree is no node at all. */
  private orNull(node: MstNode): MstNode | null {
    if (node.entries!.length === 0 && node.left === null) {
      this.drop(node)
      return null
    }
    return node
  }

  /** Joins two neighbouring subtrees of one layer (every key of `a` before every key of `b`). */
  private merge(a: MstNode | null, b: MstNode | null): MstNode | null {
    if (!a) return b
    if (!b) return a
    const aEntries = a.load(this.source)
    const bEntries = b.load(this.source)
    this.drop(a)
    this.drop(b)
    const entries = aEntries.map((e) => ({ ...e }))
    const seamLeft = entries.length > 0 ? entries[entries.length - 1].right : a.left
    const seam = this.merge(seamLeft, b.left)
    let left = a.left
    if (entries.length > 0) entries[entries.length - 1].right = seam
    else left = seam
    for (const e of bEntries) entries.push({ ...e })
    return entries.length > 0 || left ? this.fresh(a.layer, left, entries) : null
  }

  finish(): MstEditResult {
    let root = this.root
    // the root sits at the layer of the highest key: drop entry-less layers above it
    while (root.load(this.source).length === 0 && root.left !== null) {
      this.drop(root)
      root = root.left
    }
    const newBlocks: [string, Uint8Array][] = []
    const seal = (node: MstNode) => {
      if (node.owner !== this) return
      if (node.left) seal(node.left)
      for (const e of node.entries!) if (e.right) seal(e.right)
      const cid = node.seal()
      newBlocks.push([cidToString(cid), node.bytes!])
    }
    seal(root)
    // a node edited back to what it was is neither new nor removed
    const created = new Set(newBlocks.map(([cid]) => cid))
    const removedCids = [...this.replaced.keys()].filter((cid) => !created.has(cid))
    this.root = root
    return { root, newBlocks: newBlocks.filter(([cid]) => !this.replaced.has(cid)), removedCids }
  }
}

/**
 * The nodes a firehose consumer needs to check an operation on `key` and invert it (Sync 1.1):
 * the path from the root to the key (or to where it would be, down to the bottom), and, where the
 * key is present, the inner edges of the subtrees on either side of it, which its removal would
 * merge.
 */
export function coveringProof(source: BlockSource, root: MstNode, key: string, into: Map<string, Uint8Array>): void {
  const add = (node: MstNode) => {
    node.load(source)
    into.set(cidToString(node.cid!), node.bytes!)
  }
  let node: MstNode | null = root
  while (node) {
    add(node)
    const entries: Entry[] = node.entries!
    const i = lowerBound(entries, key)
    if (i < entries.length && entries[i].key === key) {
      let l: MstNode | null = i === 0 ? node.left : entries[i - 1].right
      while (l) {
        add(l)
        l = l.entries!.length > 0 ? l.entries![l.entries!.length - 1].right : l.left
      }
      let r: MstNode | null = entries[i].right
      while (r) {
        add(r)
        r = r.left
      }
      return
    }
    node = i === 0 ? node.left : entries[i - 1].right
  }
}
