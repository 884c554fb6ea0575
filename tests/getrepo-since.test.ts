// getRepo?since=: a diff holds the blocks of every record created or updated after `since`,
// even when the same bytes were already in the repo at an earlier rev (a block keeps the rev
// that first wrote it), and each block once (spec-notes §1 "CAR export").
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBlockstore, readCarStream, readCarWithRoot, Repo, verifyDiffCar } from '@atproto/repo'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { getRepoCar } from './_util.ts'

const COLL = 'com.example.since.thing'

let net: TestNetwork
let acc: Awaited<ReturnType<TestNetwork['createAccount']>>
let key: string

/** Every block's CID in the order sent, duplicates included (readCar would fold them). */
async function cidsSent(car: Uint8Array): Promise<string[]> {
  const { blocks } = await readCarStream([car])
  const out: string[] = []
  for await (const b of blocks) out.push(b.cid.toString())
  return out
}

async function put(rkey: string, value: Record<string, unknown>) {
  const res = await acc.agent.com.atproto.repo.putRecord({ repo: acc.did, collection: COLL, rkey, record: { $type: COLL, ...value } })
  return res.data.cid
}

async function head() {
  return (await acc.agent.com.atproto.sync.getLatestCommit({ did: acc.did })).data
}

test.before(async () => {
  net = await startNetwork()
  acc = await net.createAccount()
  const doc = (await (await fetch(`${net.plc.url}/${encodeURIComponent(acc.did)}/data`)).json()) as { verificationMethods: { atproto: string } }
  key = doc.verificationMethods.atproto
})

test.after(async () => {
  await net?.close()
})

test('records created or updated after since with bytes the repo already held are in the diff, each block once', async () => {
  const first = await head()
  const shared = { text: 'the same bytes in three records' }
  const sharedCid = await put('a', shared)
  const otherCid = await put('b', { text: 'a record that will be overwritten' })
  await put('c', { text: 'a record that will be deleted' })
  const before = await head()
  const oldCar = await readCarWithRoot(await getRepoCar(net.url, acc.did))

  // after `since`: a create and an update whose record bytes already exist (record a's), a
  // create of new bytes, and a delete
  assert.is(await put('d', shared), sharedCid)
  assert.is(await put('b', shared), sharedCid)
  const freshCid = await put('e', { text: 'new bytes' })
  await acc.agent.com.atproto.repo.deleteRecord({ repo: acc.did, collection: COLL, rkey: 'c' })
  const after = await head()

  const diff = await getRepoCar(net.url, acc.did, before.rev)
  const sent = await cidsSent(diff)
  assert.ok(sent.includes(sharedCid), 'the re-used record block is in the diff')
  assert.ok(sent.includes(freshCid), 'the new record block is in the diff')
  assert.not.ok(sent.includes(otherCid), 'the overwritten version is not')
  assert.is(new Set(sent).size, sent.length, 'no block is sent twice')
  assert.is(sent[0], after.cid, 'the commit comes first')

  // it applies on top of the old repo, and names exactly the writes since
  const oldRepo = await Repo.load(new MemoryBlockstore(oldCar.blocks), oldCar.root)
  const verified = await verifyDiffCar(oldRepo, diff, acc.did, key)
  const writes = verified.writes.map((w) => `${w.action} ${w.rkey}`).sort()
  assert.equal(writes, ['create d', 'create e', 'delete c', 'update b'])

  // since = the current rev: the commit alone; a diff from an older rev still holds the block once
  const none = await cidsSent(await getRepoCar(net.url, acc.did, after.rev))
  assert.equal(none, [after.cid])
  const older = await cidsSent(await getRepoCar(net.url, acc.did, first.rev))
  assert.is(older.filter((c) => c === sharedCid).length, 1)
  assert.is(new Set(older).size, older.length, 'no block is sent twice')
})

test('a re-used record block is in the diff across pages of re-used blocks (more than a page of them)', async () => {
  // 1,200 records whose bytes already exist: more than one page (1,000 rows) of re-used blocks
  const originals = Array.from({ length: 1200 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create' as const,
    collection: COLL,
    rkey: `orig${String(i).padStart(4, '0')}`,
    value: { $type: COLL, n: i },
  }))
  for (let i = 0; i < originals.length; i += 200) {
    await acc.agent.com.atproto.repo.applyWrites({ repo: acc.did, writes: originals.slice(i, i + 200) })
  }
  const before = await head()
  const copies = originals.map((w) => ({ ...w, rkey: w.rkey.replace('orig', 'copy') }))
  const copyCids: string[] = []
  for (let i = 0; i < copies.length; i += 200) {
    const res = await acc.agent.com.atproto.repo.applyWrites({ repo: acc.did, writes: copies.slice(i, i + 200) })
    for (const r of res.data.results ?? []) copyCids.push((r as { cid: string }).cid)
  }
  const sent = await cidsSent(await getRepoCar(net.url, acc.did, before.rev))
  const set = new Set(sent)
  assert.is(set.size, sent.length, 'no block is sent twice')
  for (const cid of copyCids) assert.ok(set.has(cid), `record block ${cid} is in the diff`)
})

test.run()
