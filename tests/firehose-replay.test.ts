// The durable event log behind subscribeRepos: cursor replay racing live writes, restarts,
// rolled-back transactions, pruning (OutdatedCursor), slow consumers, crawl requests.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { RawSubscriber, sleep, StreamChecker, waitUntil } from './_firehose.ts'
import { writeTransaction } from '../src/repo/transaction.ts'
import { Crawlers } from '../src/firehose/crawlers.ts'
import type { SequencedEvent } from '../src/firehose/sequencer.ts'

const COLL = 'com.example.firehose.thing'
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

type Account = Awaited<ReturnType<TestNetwork['createAccount']>>

async function writeMany(accounts: Account[], perAccount: number, textBytes: number) {
  await Promise.all(
    accounts.map(async (acc) => {
      for (let i = 0; i < perAccount; i++) {
        await acc.agent.com.atproto.repo.createRecord({
          repo: acc.did,
          collection: COLL,
          record: { n: i, text: 'x'.repeat(textBytes) },
        })
      }
    }),
  )
}

test('a writer running during cursor replays: every subscriber gets every seq once, in order', async () => {
  const net = await startNetwork()
  try {
    const accounts = [await net.createAccount(), await net.createAccount(), await net.createAccount()]
    // > 1 replay page (500) of ~5 kB events, so replay also waits for the sockets to drain
    await writeMany(accounts, 220, 5000)
    const seq = () => net.pds.ctx.sequencer.currentSeq()
    const base = seq()
    assert.ok(base > 600, `base ${base}`)

    let writing = true
    const writer = (async () => {
      let i = 0
      while (writing) {
        await Promise.all(
          accounts.map((acc) =>
            acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { live: i++, text: 'y'.repeat(2000) } }),
          ),
        )
      }
    })()

    const subs: { sub: RawSubscriber; cursor: number; atConnect: number; seqWhenCaughtUp?: number }[] = []
    for (const cursor of [0, 0, 100, 350, base - 1, 0]) {
      const atConnect = seq()
      const sub = await RawSubscriber.connect(net.url, cursor)
      const entry: (typeof subs)[number] = { sub, cursor, atConnect }
      sub.onFrame = (f) => {
        if (entry.seqWhenCaughtUp === undefined && f.body.seq >= atConnect) entry.seqWhenCaughtUp = seq()
      }
      // one subscriber reads in bursts, so its replay has to wait for the socket to drain
      if (subs.length === 1) {
        void (async () => {
          for (let k = 0; k < 10; k++) {
            sub.ws.pause()
            await sleep(40)
            sub.ws.resume()
            await sleep(10)
          }
        })()
      }
      subs.push(entry)
      await sleep(60)
    }
    await sleep(300)
    writing = false
    await writer
    const end = seq()
    assert.ok(end > base + 30, 'the writer kept writing during the replays')
    for (const s of subs) {
      await s.sub.waitForSeq(end, 20_000)
      await sleep(20)
      assert.equal(
        s.sub.frames.map((f) => f.body.seq),
        range(s.cursor + 1, end),
        `cursor ${s.cursor}: no gap, no duplicate`,
      )
      assert.ok(s.sub.frames.every((f) => f.header.op === 1 && f.header.t !== '#info'))
    }
    // the switch-over really raced writes: some subscriber finished its replay while seqs moved on
    assert.ok(
      subs.some((s) => s.seqWhenCaughtUp !== undefined && s.seqWhenCaughtUp > s.atConnect),
      JSON.stringify(subs.map((s) => [s.atConnect, s.seqWhenCaughtUp])),
    )
    const checker = new StreamChecker(net.plc.url)
    for (const f of subs[0].sub.frames) await checker.check(f)
    for (const s of subs) await s.sub.close()
  } finally {
    await net.close()
  }
})

test('events survive a restart with the same seqs and bytes; seqs continue, never reused', async () => {
  const net = await startNetwork()
  try {
    const acc = await net.createAccount()
    await writeMany([acc], 10, 100)
    const end = net.pds.ctx.sequencer.currentSeq()
    const before = await RawSubscriber.connect(net.url, 0)
    await before.waitForSeq(end)
    await before.close()

    await net.restart()
    assert.is(net.pds.ctx.sequencer.currentSeq(), end)
    const after = await RawSubscriber.connect(net.url, 0)
    await after.waitForSeq(end)
    assert.equal(
      after.frames.map((f) => f.body.seq),
      range(1, end),
    )
    for (let i = 0; i < end; i++) {
      assert.ok(Buffer.from(before.frames[i].bytes).equals(Buffer.from(after.frames[i].bytes)), `seq ${i + 1}`)
    }
    // the session survives the restart; the next commit takes the next seq, and the chain holds
    const r = await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'after restart' } })
    await after.waitForSeq(end + 1)
    assert.is(after.frames[end].body.seq, end + 1)
    assert.is(after.frames[end].body.rev, r.data.commit!.rev)
    const checker = new StreamChecker(net.plc.url)
    for (const f of after.frames) await checker.check(f)
    // a cursor beyond the restored head is still in the future
    const future = await RawSubscriber.connect(net.url, end + 2)
    assert.is((await future.closed).reason, 'FutureCursor')
    await after.close()
  } finally {
    await net.close()
  }
})

test('a rolled-back transaction publishes nothing and leaves no gap; nested transactions publish once', async () => {
  const net = await startNetwork()
  try {
    const { did } = await net.createAccount()
    const { db, sequencer } = net.pds.ctx
    const published: SequencedEvent[] = []
    const listen = (e: SequencedEvent) => published.push(e)
    sequencer.on('event', listen)
    const start = sequencer.currentSeq()

    assert.throws(() =>
      writeTransaction(db, sequencer, () => {
        sequencer.appendIdentityInTx(did)
        sequencer.appendAccountInTx(did, true)
        throw new Error('boom')
      }),
    )
    assert.is(sequencer.currentSeq(), start)
    assert.is(published.length, 0)

    // inner savepoint rolled back, outer committed: A and C published after the outer COMMIT
    let publishedInside = -1
    writeTransaction(db, sequencer, () => {
      sequencer.appendIdentityInTx(did, 'a.test')
      try {
        writeTransaction(db, sequencer, () => {
          sequencer.appendIdentityInTx(did, 'b.test')
          throw new Error('inner')
        })
      } catch {}
      writeTransaction(db, sequencer, () => {
        sequencer.appendIdentityInTx(did, 'c.test')
      })
      publishedInside = published.length
    })
    assert.is(publishedInside, 0, 'nothing published before the outer COMMIT')
    assert.equal(
      published.map((e) => e.seq),
      [start + 1, start + 2],
    )
    assert.is(sequencer.currentSeq(), start + 2)

    const sub = await RawSubscriber.connect(net.url, start)
    await sub.waitForSeq(start + 2)
    assert.equal(
      sub.frames.map((f) => [f.body.seq, f.body.handle]),
      [
        [start + 1, 'a.test'],
        [start + 2, 'c.test'],
      ],
    )
    await sub.close()
    sequencer.off('event', listen)
  } finally {
    await net.close()
  }
})

test('pruning by age: an old cursor gets #info OutdatedCursor, then the retained window', async () => {
  const net = await startNetwork({ PDS_REPO_BACKFILL_LIMIT_MS: '1' })
  try {
    const acc = await net.createAccount()
    await writeMany([acc], 3, 10)
    const oldEnd = net.pds.ctx.sequencer.currentSeq()
    // start-up prunes: everything is older than 1 ms
    await net.restart()
    assert.is(net.pds.firehose.log.oldestSeq(), undefined)
    assert.is(net.pds.ctx.sequencer.currentSeq(), oldEnd)

    const s1 = (await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 1 } })).data
    await sleep(5)
    assert.is(await net.pds.firehose.prune(), 1)
    const s2 = (await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 2 } })).data
    assert.is(net.pds.ctx.sequencer.currentSeq(), oldEnd + 2, 'seqs are never reused after pruning')
    assert.is(net.pds.firehose.log.oldestSeq(), oldEnd + 2)

    for (const cursor of [0, oldEnd, oldEnd - 1]) {
      const sub = await RawSubscriber.connect(net.url, cursor)
      await sub.waitForSeq(oldEnd + 2)
      assert.equal(sub.frames[0].header, { op: 1, t: '#info' }, `cursor ${cursor}`)
      assert.is(sub.frames[0].body.name, 'OutdatedCursor')
      assert.not.ok('seq' in sub.frames[0].body)
      assert.equal(
        sub.frames.slice(1).map((f) => [f.body.seq, f.body.rev]),
        [[oldEnd + 2, s2.commit!.rev]],
      )
      await sub.close()
    }
    // a cursor inside the window: no #info
    const inWindow = await RawSubscriber.connect(net.url, oldEnd + 1)
    await inWindow.waitForSeq(oldEnd + 2)
    const s3 = (await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 3 } })).data
    await inWindow.waitForSeq(oldEnd + 3)
    assert.equal(
      inWindow.frames.map((f) => [f.header.t, f.body.rev]),
      [
        ['#commit', s2.commit!.rev],
        ['#commit', s3.commit!.rev],
      ],
    )
    assert.ok(s1.commit!.rev < s2.commit!.rev)
    await inWindow.close()
  } finally {
    await net.close()
  }
})

test('a stalled subscriber gets ConsumerTooSlow and is closed while another keeps receiving', async () => {
  const net = await startNetwork({ PDS_FIREHOSE_QUEUE_LENGTH: '20' })
  try {
    const acc = await net.createAccount()
    const start = net.pds.ctx.sequencer.currentSeq()
    const stalled = await RawSubscriber.connect(net.url)
    stalled.ws.pause() // never reads: kernel buffers fill, then the server-side queue
    const healthy = await RawSubscriber.connect(net.url)
    const service = net.pds.firehose.subscribeRepos
    assert.is(service.liveCount, 2)

    // ~400 kB events: a few dozen exhaust the socket buffers of the stalled reader
    let commits = 0
    while (commits < 120 && service.liveCount === 2) {
      await acc.agent.com.atproto.repo.applyWrites({
        repo: acc.did,
        writes: [0, 1, 2, 3].map((k) => ({
          $type: 'com.atproto.repo.applyWrites#create' as const,
          collection: COLL,
          value: { k, text: String(commits).repeat(100_000).slice(0, 100_000) },
        })),
      })
      commits++
      await healthy.waitForSeq(start + commits, 10_000)
    }
    const end = net.pds.ctx.sequencer.currentSeq()
    await healthy.waitForSeq(end)
    assert.equal(
      healthy.frames.map((f) => f.body.seq),
      range(start + 1, end),
      'the healthy subscriber got everything',
    )
    assert.ok(commits < 120, 'the stalled subscriber was dropped')
    assert.is(service.liveCount, 1)

    // once it reads again: a gap-free prefix, then the error frame, then close 1008
    stalled.ws.resume()
    const closed = await stalled.closed
    assert.is(closed.code, 1008)
    assert.is(closed.reason, 'ConsumerTooSlow')
    const last = stalled.frames[stalled.frames.length - 1]
    assert.equal(last.header, { op: -1 })
    assert.is(last.body.error, 'ConsumerTooSlow')
    const got = stalled.frames.slice(0, -1).map((f) => f.body.seq)
    assert.ok(got.length < end - start, 'it did not get everything')
    assert.equal(got, range(start + 1, start + got.length))
    await waitUntil(() => service.subscribers.size === 1, 'server side of the dropped socket closed', 5000)

    // the healthy one is still live
    await acc.agent.com.atproto.repo.createRecord({ repo: acc.did, collection: COLL, record: { n: 'after' } })
    await healthy.waitForSeq(end + 1)
    await healthy.close()
  } finally {
    await net.close()
  }
})

type FakeRelay = { url: string; requests: { hostname: unknown }[]; server: Server; close(): Promise<void> }

async function startFakeRelay(port = 0): Promise<FakeRelay> {
  const app = express()
  const requests: { hostname: unknown }[] = []
  app.post('/xrpc/com.atproto.sync.requestCrawl', express.json(), (req, res) => {
    requests.push({ hostname: req.body?.hostname })
    res.json({})
  })
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    requests,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

test('crawlers: requestCrawl at start-up, rate-limited, again for a new account; a dead relay is only logged', async () => {
  const relay = await startFakeRelay()
  // a relay that is down: a port that was free a moment ago
  const gone = await startFakeRelay()
  const deadUrl = gone.url
  await gone.close()
  const net = await startNetwork({ PDS_CRAWLERS: `${relay.url}/, ${deadUrl}` })
  const second = await startFakeRelay()
  try {
    await waitUntil(() => relay.requests.length === 1, 'start-up requestCrawl', 5000)
    assert.equal(relay.requests, [{ hostname: 'localhost' }])

    // within the 20-minute window the server's notifier stays quiet
    await net.createAccount()
    await sleep(200)
    assert.is(relay.requests.length, 1)

    // a notifier with no window notifies on the new account's events
    const eager = new Crawlers({
      hostname: net.pds.cfg.hostname,
      crawlers: [second.url],
      logger: net.pds.ctx.logger,
      sequencer: net.pds.ctx.sequencer,
      minIntervalMs: 0,
    })
    assert.is(second.requests.length, 0)
    await net.createAccount()
    await waitUntil(() => second.requests.length >= 1, 'requestCrawl on a new account', 5000)
    assert.equal(second.requests[0], { hostname: 'localhost' })
    eager.close()
    const n = second.requests.length
    await net.createAccount()
    await sleep(200)
    assert.is(second.requests.length, n, 'closed notifier stays quiet')
    // the server is healthy despite the dead relay
    assert.is((await fetch(net.url + '/xrpc/_health')).status, 200)
  } finally {
    await net.close()
    await relay.close()
    await second.close()
  }
})

test.run()
