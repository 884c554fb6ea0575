// subscribeRepos under load one account can make: replay pages bounded in bytes (2 MB commits),
// a cap on subscribers (refused before the upgrade), a subscriber that answers pings but never
// reads is dropped; and `cursor=` (empty) means no cursor, as @atproto/sync's Firehose sends it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { IncomingMessage } from 'node:http'
import { WebSocket } from 'ws'
import type { Event } from '@atproto/sync'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { RawSubscriber, sleep, startSyncFirehose, StreamChecker, waitUntil, wsUrl } from './_firehose.ts'

const COLL = 'com.example.firehose.bounds'
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

type Account = Awaited<ReturnType<TestNetwork['createAccount']>>

/** One commit of two ~940 kB records: its #commit frame is ~1.9 MB. */
async function bigCommit(acc: Account, n: number) {
  await acc.agent.com.atproto.repo.applyWrites({
    repo: acc.did,
    writes: [0, 1].map((k) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: COLL,
      rkey: `big${n}-${k}`,
      value: { $type: COLL, text: `${n}.${k}`.padEnd(940_000, String.fromCharCode(97 + ((n + k) % 26))) },
    })),
  })
}

/** A WebSocket upgrade that the server refuses: its HTTP status, headers and JSON body. */
function refusedUpgrade(url: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => reject(new Error('the upgrade was accepted')))
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }))
    })
    ws.once('error', () => {})
  })
}

let net: TestNetwork

test.before(async () => {
  net = await startNetwork()
})

test.after(async () => {
  await net?.close()
})

test('cursor= (empty) is no cursor: no error, nothing replayed, live events follow', async () => {
  const acc = await net.createAccount()
  await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'before' } })
  const atConnect = net.pds.ctx.sequencer.currentSeq()
  const sub = await RawSubscriber.connect(net.url, '')
  assert.ok(sub.ws.url.endsWith('?cursor='), sub.ws.url)
  await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'after' } })
  await sub.waitForSeq(atConnect + 1)
  assert.ok(sub.frames.every((f) => f.header.op === 1), 'no error frame')
  assert.equal(
    sub.frames.map((f) => f.body.seq),
    [atConnect + 1],
    'only the live event',
  )
  await sub.close()
})

test("@atproto/sync's Firehose with no stored cursor (it sends cursor=) gets the live events", async () => {
  const acc = await net.createAccount()
  // a cursor store with nothing in it: the client encodes its null as `cursor=`
  const firehose = startSyncFirehose(net, () => null)
  const { events, errors } = firehose
  try {
    // the client connects in the background: write until it has seen one of ours
    let n = 0
    const deadline = Date.now() + 15_000
    while (!events.some((e) => e.event === 'create' && e.did === acc.did) && errors.length === 0 && Date.now() < deadline) {
      await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, rkey: `live${n++}`, record: { $type: COLL, n } })
      await sleep(100)
    }
  } finally {
    await firehose.stop()
  }
  if (errors.length > 0) throw new Error(`Firehose reported: ${errors.map((e) => `${e.message} ${(e.cause as Error)?.message ?? ''}`).join('; ')}`)
  const mine = events.filter((e) => e.did === acc.did && e.event === 'create') as (Event & { rkey: string })[]
  assert.ok(mine.length > 0, 'it received our creates')
  const seqs = events.map((e) => e.seq)
  assert.equal(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'each event once, in order')
})

test('replay of 2 MB commits: pages bounded in bytes, every event delivered once and in order, to a reader that pauses too', async () => {
  const acc = await net.createAccount()
  const start = net.pds.ctx.sequencer.currentSeq()
  for (let i = 0; i < 8; i++) await bigCommit(acc, i)
  const end = net.pds.ctx.sequencer.currentSeq()
  assert.is(end - start, 8)

  // a page holds as many 1.9 MB frames as 2 MB allows (one), never the 16 a row count gave
  const log = net.pds.firehose.log
  const paged: number[] = []
  let after = start
  for (;;) {
    const page = log.page(after, 500, 2 * 1024 * 1024)
    assert.ok(page.rows.length <= 1, `a page of ${page.rows.length} 2 MB frames`)
    for (const row of page.rows) {
      assert.ok(row.frame.byteLength > 1_800_000)
      paged.push(row.seq)
      after = row.seq
    }
    if (page.end) break
  }
  assert.equal(paged, range(start + 1, end), 'pages neither skip nor repeat')

  // through the socket: one reader takes everything at once, one pauses in the middle
  const checker = new StreamChecker(net.plc.url)
  const eager = await RawSubscriber.connect(net.url, start)
  const paused = await RawSubscriber.connect(net.url, start)
  paused.ws.pause()
  await eager.waitForSeq(end, 30_000)
  await sleep(200)
  paused.ws.resume()
  await paused.waitForSeq(end, 30_000)
  for (const sub of [eager, paused]) {
    assert.equal(
      sub.events().map((f) => f.body.seq),
      range(start + 1, end),
    )
  }
  for (const f of eager.events()) await checker.check(f)
  assert.is(checker.counts['#commit'], 8)
  // and both went live afterwards
  await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'live' } })
  await eager.waitForSeq(end + 1)
  await paused.waitForSeq(end + 1)
  await eager.close()
  await paused.close()
})

test('PDS_FIREHOSE_MAX_SUBSCRIBERS: one more is refused with 503 NotEnoughResources and Retry-After before the upgrade', async () => {
  const capped = await startNetwork({ PDS_FIREHOSE_MAX_SUBSCRIBERS: '2' })
  try {
    const acc = await capped.createAccount()
    const a = await RawSubscriber.connect(capped.url)
    const b = await RawSubscriber.connect(capped.url, 0)
    const refused = await refusedUpgrade(wsUrl(capped.url))
    assert.is(refused.status, 503)
    assert.is(refused.body.error, 'NotEnoughResources')
    assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After')
    assert.is(capped.pds.firehose.subscribeRepos.subscribers.size, 2)

    // those connected are served as before
    const before = capped.pds.ctx.sequencer.currentSeq()
    await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 1 } })
    await a.waitForSeq(before + 1)
    await b.waitForSeq(before + 1)
    assert.equal(
      b.events().map((f) => f.body.seq),
      range(1, before + 1),
    )

    // a freed place is taken again
    await a.close()
    await waitUntil(() => capped.pds.firehose.subscribeRepos.subscribers.size === 1, 'the closed subscriber is gone')
    const c = await RawSubscriber.connect(capped.url)
    await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 2 } })
    await c.waitForSeq(before + 2)
    await b.close()
    await c.close()
  } finally {
    await capped.close()
  }
})

test('a subscriber that answers pings but never reads is dropped once its queue makes no progress; others keep receiving', async () => {
  const stallNet = await startNetwork({ PDS_FIREHOSE_STALL_TIMEOUT_MS: '1000' })
  try {
    const acc = await stallNet.createAccount()
    const service = stallNet.pds.firehose.subscribeRepos
    const start = stallNet.pds.ctx.sequencer.currentSeq()
    const stalled = await RawSubscriber.connect(stallNet.url)
    stalled.ws.pause()
    // pongs keep it "alive" for the heartbeat whatever it reads
    const ponger = setInterval(() => stalled.ws.pong(), 100)
    const healthy = await RawSubscriber.connect(stallNet.url)
    try {
      // 30 events of ~400 kB: more than the socket buffers hold, well under the queue limits
      // (500 frames, 16 MB), so it is not dropped as ConsumerTooSlow
      for (let i = 0; i < 30; i++) {
        await acc.agent.com.atproto.repo.applyWrites({
          repo: acc.did,
          writes: [0, 1, 2, 3].map((k) => ({
            $type: 'com.atproto.repo.applyWrites#create' as const,
            collection: COLL,
            value: { $type: COLL, k, text: String(i).repeat(100_000).slice(0, 100_000) },
          })),
        })
      }
      const end = stallNet.pds.ctx.sequencer.currentSeq()
      await healthy.waitForSeq(end)
      await waitUntil(() => service.subscribers.size === 1, 'the stalled subscriber was dropped')
      assert.equal(
        healthy.events().map((f) => f.body.seq),
        range(start + 1, end),
        'the healthy subscriber got everything',
      )
    } finally {
      clearInterval(ponger)
    }
    // reading again: a gap-free prefix, then the connection is gone
    stalled.ws.resume()
    await stalled.closed
    const got = stalled.events().map((f) => f.body.seq)
    assert.equal(got, range(start + 1, start + got.length))
    // the healthy one is still live
    const last = stallNet.pds.ctx.sequencer.currentSeq()
    await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'after' } })
    await healthy.waitForSeq(last + 1)
    await healthy.close()
  } finally {
    await stallNet.close()
  }
})

test.run()
