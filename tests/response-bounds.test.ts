// Responses sized by what one account can write, bounded in server memory: getBlocks of many
// 1 MB records is streamed a block at a time; listRecords pages by bytes as well as by count.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { readCarStream } from '@atproto/repo'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc } from './_util.ts'
import { sleep } from './_firehose.ts'
import { responseBody, stalledGet, writeBigRecords } from './_stall.ts'
import { LIST_RECORDS_MAX_BYTES } from '../src/xrpc/com/atproto/repo/listRecords.ts'

const BIG = 'com.example.bounds.big'
const SMALL = 'com.example.bounds.small'
const RECORD_TEXT = 900_000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/**
 * ArrayBuffer memory (Buffers: sockets' queues, SQLite results) held in this process, after
 * full collections (V8 frees their backing stores after the collection itself: a few rounds).
 */
async function heldBufferBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(20)
  }
  return process.memoryUsage().arrayBuffers
}

let net: TestNetwork
let acc: Awaited<ReturnType<TestNetwork['createAccount']>>
let bigCids: string[]

test.before(async () => {
  net = await startNetwork()
  acc = await net.createAccount()
  bigCids = await writeBigRecords(acc, BIG, 30)
})

test.after(async () => {
  await net?.close()
})

function getBlocksPath(cids: string[]): string {
  const q = new URLSearchParams({ did: acc.did })
  for (const c of cids) q.append('cids', c)
  return `/xrpc/com.atproto.sync.getBlocks?${q}`
}

test('getBlocks of 30 records of 900 kB: a client that does not read holds a few blocks in server memory, not the 27 MB answer; one that reads gets every block once, verified, in the order asked', async () => {
  const before = await heldBufferBytes()
  const socket = await stalledGet(net.url, getBlocksPath(bigCids))
  try {
    // let the server write what the socket takes, until what it holds stops changing
    let held = (await heldBufferBytes()) - before
    for (let i = 0; i < 30; i++) {
      await sleep(100)
      const now = (await heldBufferBytes()) - before
      if (Math.abs(now - held) < 256 * 1024) break
      held = now
    }
    assert.ok(held < 8 * 1024 * 1024, `server holds ${(held / 1e6).toFixed(1)} MB for a stalled 27 MB getBlocks`)
  } finally {
    socket.destroy()
  }

  const asked = [...bigCids, bigCids[3]!, bigCids[0]!] // repeats are sent once
  const res = await fetch(new URL(getBlocksPath(asked), net.url))
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'application/vnd.ipld.car')
  const { roots, blocks } = await readCarStream([new Uint8Array(await res.arrayBuffer())])
  assert.is(roots.length, 0)
  const sent: string[] = []
  for await (const b of blocks) {
    // readCarStream checks each block's bytes against its CID
    assert.ok(b.bytes.length > RECORD_TEXT)
    sent.push(b.cid.toString())
  }
  assert.equal(sent, bigCids)

  // one missing CID: BlockNotFound, nothing sent
  const missing = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpa'
  const err = await rawXrpc(net.url, 'com.atproto.sync.getBlocks', { params: { did: acc.did, cids: missing } })
  assert.is(err.status, 400)
  assert.is(err.body.error, 'BlockNotFound')
})

test('getBlocks: a block removed by a commit before the client read that far cuts the answer; the commit stands', async () => {
  const last = bigCids[bigCids.length - 1]!
  const socket = await stalledGet(net.url, getBlocksPath(bigCids))
  await acc.agent.com.atproto.repo.deleteRecord({ repo: acc.did, collection: BIG, rkey: `big${String(bigCids.length - 1).padStart(2, '0')}` })
  const received: Buffer[] = [socket.firstBytes]
  await new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => received.push(c))
    socket.once('close', () => resolve())
    socket.resume()
  })
  const { body, complete } = responseBody(Buffer.concat(received))
  assert.not.ok(complete, 'the answer was cut')
  // what came is a prefix of the blocks asked, each whole and verified; the removed one never
  // came (the last ones before it may have been in the server's buffers when it was cut)
  const { blocks } = await readCarStream([body])
  const sent: string[] = []
  try {
    for await (const b of blocks) sent.push(b.cid.toString())
  } catch {
    // the block cut in the middle
  }
  assert.ok(sent.length > 0 && sent.length < bigCids.length, `${sent.length} blocks came`)
  assert.equal(sent, bigCids.slice(0, sent.length))
  // the delete stands, and the block is gone
  const err = await rawXrpc(net.url, 'com.atproto.sync.getBlocks', { params: { did: acc.did, cids: last } })
  assert.is(err.status, 400)
  assert.is(err.body.error, 'BlockNotFound')
  const gone = await rawXrpc(net.url, 'com.atproto.repo.getRecord', {
    params: { repo: acc.did, collection: BIG, rkey: `big${String(bigCids.length - 1).padStart(2, '0')}` },
  })
  assert.is(gone.status, 400)
  assert.is(gone.body.error, 'RecordNotFound')
  bigCids.pop()
})

test('listRecords?limit=100 of 900 kB records: pages bounded in bytes, with a cursor, every record once and in order; small records still fill `limit`', async () => {
  for (const reverse of [false, true]) {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const res = await acc.agent.com.atproto.repo.listRecords({ repo: acc.did, collection: BIG, limit: 100, cursor, reverse })
      const { records } = res.data
      pages++
      assert.ok(records.length >= 1, 'no empty page before the end')
      const bytes = records.reduce((n, r) => n + String((r.value as { text: string }).text).length, 0)
      assert.ok(bytes <= LIST_RECORDS_MAX_BYTES, `a page of ${records.length} records (${bytes} bytes of text)`)
      for (const r of records) seen.push(r.uri.split('/').pop()!)
      cursor = res.data.cursor
    } while (cursor)
    const rkeys = bigCids.map((_, i) => `big${String(i).padStart(2, '0')}`)
    assert.equal(seen, reverse ? rkeys : [...rkeys].reverse(), `reverse=${reverse}`)
    assert.ok(pages >= Math.ceil((30 * RECORD_TEXT) / LIST_RECORDS_MAX_BYTES), `${pages} pages`)
  }

  // small records: the byte budget is not reached, a page holds `limit`
  const writes = Array.from({ length: 150 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create' as const,
    collection: SMALL,
    rkey: `s${String(i).padStart(3, '0')}`,
    value: { $type: SMALL, n: i },
  }))
  await acc.agent.com.atproto.repo.applyWrites({ repo: acc.did, writes: writes.slice(0, 100) })
  await acc.agent.com.atproto.repo.applyWrites({ repo: acc.did, writes: writes.slice(100) })
  const first = await acc.agent.com.atproto.repo.listRecords({ repo: acc.did, collection: SMALL, limit: 100 })
  assert.is(first.data.records.length, 100)
  assert.is(first.data.cursor, 's050')
  const second = await acc.agent.com.atproto.repo.listRecords({ repo: acc.did, collection: SMALL, limit: 100, cursor: first.data.cursor })
  assert.is(second.data.records.length, 50)
  assert.is(second.data.cursor, undefined)
})

test.run()
