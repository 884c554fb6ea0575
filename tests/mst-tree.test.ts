// Our synchronous MST (src/repo/mst-tree.ts) against @atproto/repo's MST as the oracle: after
// every batch of random creates, updates and deletes, the same root CID, the same new and
// removed nodes, and covering proofs from which @atproto/repo's MST can invert the batch back
// to the previous root (what a Sync 1.1 firehose consumer does).
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { DataDiff, MemoryBlockstore, MST } from '@atproto/repo'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cidForCborBytes } from '../src/repo/cid.ts'
import { coveringProof, keyHeight, MstEdit, MstNode, MstNotFoundError } from '../src/repo/mst-tree.ts'
import { readFixtureLines } from './_util.ts'

const interop = join(import.meta.dirname, 'fixtures', 'interop', 'mst')

let valueCounter = 0
const recordCids = new Set<string>()
function newValue(): Cid {
  const cid = cidForCborBytes(cborEncode({ n: ++valueCounter })) as Cid
  recordCids.add(cid.toString())
  return cid
}

/** Our nodes' blocks, never deleted, as the block table would hold them. */
class Blocks {
  map = new Map<string, Uint8Array>()
  getBytesSync(cid: string) {
    return this.map.get(cid) ?? null
  }
}

type Op = { action: 'create' | 'update' | 'delete'; key: string; value?: Cid; prev?: Cid }

const sorted = (xs: Iterable<string>) => [...xs].sort()

async function refTreeFor(blocks: Map<string, Uint8Array>, root: Cid): Promise<MST> {
  const store = new MemoryBlockstore()
  for (const bytes of blocks.values()) await store.putBlock(cidForCborBytes(bytes) as never, bytes)
  return MST.load(store, root as never)
}

test('random batches: same roots, diffs and invertible proofs as @atproto/repo', async () => {
  const pool = [
    ...readFixtureLines(join(interop, 'example_keys.txt')),
    ...Array.from({ length: 300 }, () => `app.bsky.feed.post/3k${randomBytes(6).toString('hex').slice(0, 11)}`),
    ...Array.from({ length: 40 }, (_, i) => `com.example.c${i % 3}/${'k'.repeat(1 + (i % 40))}${i}`),
  ]
  assert.ok(pool.some((k) => keyHeight(k) >= 2), 'the pool has keys above the bottom layers')
  const blocks = new Blocks()
  const empty = MstNode.empty()
  blocks.map.set(empty.cid!.toString(), empty.bytes!)
  let ours = empty
  let ref = await MST.create(new MemoryBlockstore())
  assert.is(ours.cid!.toString(), (await ref.getPointer()).toString(), 'the empty tree')
  const current = new Map<string, Cid>()
  let rounds = 0
  for (let batch = 0; batch < 120; batch++) {
    const size = batch % 10 === 0 ? 60 : 1 + Math.floor(Math.random() * 8)
    const ops: Op[] = []
    const touched = new Set<string>()
    for (let j = 0; j < size; j++) {
      const key = pool[Math.floor(Math.random() * pool.length)]
      if (touched.has(key)) continue
      touched.add(key)
      const prev = current.get(key)
      if (!prev) ops.push({ action: 'create', key, value: newValue() })
      else if (Math.random() < 0.4) ops.push({ action: 'update', key, value: newValue(), prev })
      else ops.push({ action: 'delete', key, prev })
    }
    // ours
    const edit = new MstEdit(blocks, ours)
    for (const op of ops) {
      if (op.action === 'delete') edit.delete(op.key)
      else edit.put(op.key, op.value!)
    }
    const result = edit.finish()
    for (const [c, bytes] of result.newBlocks) blocks.map.set(c, bytes)
    // the oracle
    const prevRef = ref
    for (const op of ops) {
      if (op.action === 'create') ref = await ref.add(op.key, op.value as never)
      else if (op.action === 'update') ref = await ref.update(op.key, op.value as never)
      else ref = await ref.delete(op.key)
    }
    const refRoot = (await ref.getPointer()).toString()
    assert.is(result.root.cid!.toString(), refRoot, `root after batch ${batch}`)
    const diff = await DataDiff.of(ref, prevRef)
    assert.equal(sorted(result.newBlocks.map(([c]) => c)), sorted(diff.newMstBlocks.cids().map(String)), `new nodes, batch ${batch}`)
    const refRemovedNodes = diff.removedCids.toList().map(String).filter((c) => !recordCids.has(c))
    assert.equal(sorted(result.removedCids), sorted(refRemovedNodes), `removed nodes, batch ${batch}`)

    // a consumer holding only the new nodes and our proofs can invert the batch
    const proof = new Map<string, Uint8Array>(result.newBlocks)
    for (const op of ops) coveringProof(blocks, result.root, op.key, proof)
    let inverted = await refTreeFor(proof, result.root.cid!)
    for (const op of [...ops].reverse()) {
      if (op.action === 'create') inverted = await inverted.delete(op.key)
      else if (op.action === 'update') inverted = await inverted.update(op.key, op.prev as never)
      else inverted = await inverted.add(op.key, op.prev as never)
    }
    assert.is((await inverted.getPointer()).toString(), (await prevRef.getPointer()).toString(), `inverted batch ${batch}`)

    for (const op of ops) {
      if (op.action === 'delete') current.delete(op.key)
      else current.set(op.key, op.value!)
    }
    // now and then continue from the stored blocks alone, as after a restart
    ours = batch % 7 === 6 ? MstNode.load(blocks, result.root.cid!) : result.root
    rounds++
  }
  assert.is(rounds, 120)
  // every key reads back its value through the stored blocks
  const reloaded = MstNode.load(blocks, ours.cid!)
  for (const key of pool) assert.is(reloaded.get(blocks, key)?.toString() ?? null, current.get(key)?.toString() ?? null, key)
})

test('an edit leaves the tree it started from unchanged, and deleting a missing key is refused', async () => {
  const blocks = new Blocks()
  let edit = new MstEdit(blocks, MstNode.empty())
  const keys = Array.from({ length: 50 }, (_, i) => `com.example.t/${i.toString().padStart(3, '0')}`)
  for (const k of keys) edit.put(k, newValue())
  const before = edit.finish()
  for (const [c, bytes] of before.newBlocks) blocks.map.set(c, bytes)
  const rootCid = before.root.cid!.toString()
  edit = new MstEdit(blocks, before.root)
  edit.put('com.example.t/new', newValue())
  edit.delete(keys[3])
  edit.finish()
  assert.is(before.root.cid!.toString(), rootCid)
  // the starting tree still encodes to its own CID and holds its keys
  assert.is(cidForCborBytes(before.root.bytes!).toString(), rootCid)
  assert.ok(before.root.get(blocks, keys[3]))
  assert.is(before.root.get(blocks, 'com.example.t/new'), null)
  assert.throws(() => new MstEdit(blocks, before.root).delete('com.example.t/none'), (e: unknown) => e instanceof MstNotFoundError)
})

test('deleting every key gives the empty tree back', async () => {
  const blocks = new Blocks()
  const keys = readFixtureLines(join(interop, 'example_keys.txt'))
  let edit = new MstEdit(blocks, MstNode.empty())
  for (const k of keys) edit.put(k, newValue())
  const full = edit.finish()
  for (const [c, bytes] of full.newBlocks) blocks.map.set(c, bytes)
  edit = new MstEdit(blocks, full.root)
  for (const k of keys) edit.delete(k)
  const emptied = edit.finish()
  assert.is(emptied.root.cid!.toString(), MstNode.empty().cid!.toString())
  assert.is(emptied.removedCids.length, full.newBlocks.length)
})

test.run()
