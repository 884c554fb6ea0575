// Our direct MST node encoder (src/repo/mst-node-encoder.ts) must give exactly the bytes, and
// so the CIDs, of @atproto/repo's own serialisation through the generic DAG-CBOR encoder.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { MemoryBlockstore, MST, mstUtil } from '@atproto/repo'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cidForCborBytes } from '../src/repo/cid.ts'
import type { Cid } from '@atproto/lex-data'
import { encodeMstNodeData, type MstLeaf } from '../src/repo/mst-node-encoder.ts'
import { readFixtureLines } from './_util.ts'

const interop = join(import.meta.dirname, 'fixtures', 'interop', 'mst')

const recordCid = (i: number) => cidForCborBytes(cborEncode({ n: i, pad: 'x'.repeat(i % 7) }))

type NodeEntries = Awaited<ReturnType<MST['getEntries']>>

/** Every node of the tree: its entries as MST holds them, and the CID MST gave it. */
async function nodesOf(tree: MST): Promise<{ entries: NodeEntries; cid: string }[]> {
  await tree.getPointer()
  const out: { entries: NodeEntries; cid: string }[] = []
  const walk = async (node: MST) => {
    const entries = await node.getEntries()
    out.push({ entries, cid: (await node.getPointer()).toString() })
    for (const e of entries) if (e.isTree()) await walk(e)
  }
  await walk(tree)
  return out
}

/** MST's entry list (an optional subtree, then leaves each with an optional subtree) as ours. */
function asLeaves(entries: NodeEntries): { left: Cid | null; leaves: MstLeaf[] } {
  let i = 0
  let left: Cid | null = null
  const first = entries[0]
  if (first && first.isTree()) {
    left = first.pointer as unknown as Cid
    i = 1
  }
  const leaves: MstLeaf[] = []
  for (; i < entries.length; i++) {
    const leaf = entries[i]
    if (!leaf.isLeaf()) throw new Error('two subtrees side by side')
    const next = entries[i + 1]
    const right = next && next.isTree() ? (next.pointer as unknown as Cid) : null
    if (right) i++
    leaves.push({ key: leaf.key, value: leaf.value as unknown as Cid, right })
  }
  return { left, leaves }
}

async function assertSameAsGenericEncoder(tree: MST, label: string) {
  const nodes = await nodesOf(tree)
  assert.ok(nodes.length > 0)
  for (const node of nodes) {
    const expected = cborEncode(mstUtil.serializeNodeData(node.entries) as never)
    const { left, leaves } = asLeaves(node.entries)
    assert.equal(Buffer.from(encodeMstNodeData(left, leaves)), Buffer.from(expected), `${label}: node bytes`)
    assert.is(node.cid, cidForCborBytes(expected).toString(), `${label}: node CID`)
  }
}

async function build(keys: string[]): Promise<MST> {
  let tree = await MST.create(new MemoryBlockstore())
  for (let i = 0; i < keys.length; i++) tree = await tree.add(keys[i], recordCid(i))
  return tree
}

test('the interop example keys: every node encodes as the generic encoder does', async () => {
  const keys = readFixtureLines(join(interop, 'example_keys.txt'))
  assert.ok(keys.length > 100)
  const tree = await build(keys)
  await assertSameAsGenericEncoder(tree, 'example keys')
  // the interop heights hold in the tree we encode: a key of height h sits h layers up
  const heights = JSON.parse(readFileSync(join(interop, 'key_heights.json'), 'utf8')) as { key: string; height: number }[]
  for (const { key, height } of heights) assert.is(await mstUtil.leadingZerosOnHash(key), height, key)
})

test('deletions and updates, record keys, long shared prefixes and long keys', async () => {
  const keys: string[] = []
  for (let i = 0; i < 400; i++) keys.push(`app.bsky.feed.post/3k${randomBytes(6).toString('hex')}`)
  // prefixes of 24..300 characters (one- and two-byte CBOR lengths), suffixes likewise
  const long = 'a'.repeat(300)
  for (let i = 0; i < 40; i++) keys.push(`com.example.long/${long.slice(0, 20 + i * 7)}${i.toString(36)}`)
  for (let i = 0; i < 5; i++) keys.push(`com.example.x${i}/${randomBytes(200).toString('hex').slice(0, 300 + i)}`)
  let tree = await build(keys)
  await assertSameAsGenericEncoder(tree, 'built')
  for (let i = 0; i < keys.length; i += 3) tree = await tree.delete(keys[i])
  for (let i = 1; i < keys.length; i += 5) if (i % 3 !== 0) tree = await tree.update(keys[i], recordCid(i + 1000))
  await assertSameAsGenericEncoder(tree, 'after deletes and updates')
  // the empty tree and a single leaf
  await assertSameAsGenericEncoder(await MST.create(new MemoryBlockstore()), 'empty')
  await assertSameAsGenericEncoder(await build(['com.example.one/a']), 'one leaf')
})

test.run()
