// com.atproto.sync.subscribeRepos: live delivery, frame contents (Sync 1.1), the reference
// consumer (@atproto/sync Firehose with verification), connect-time errors, HTTP errors.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { request } from 'node:http'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { RawSubscriber, StreamChecker, sleep, startSyncFirehose } from './_firehose.ts'

let net: TestNetwork
/** connected before anything was written: sees the whole history live */
let firstLive: RawSubscriber
const COLL = 'com.example.firehose.thing'

test.before(async () => {
  net = await startNetwork()
  firstLive = await RawSubscriber.connect(net.url)
})

test.after(async () => {
  await firstLive?.close()
  await net?.close()
})

function seqNow() {
  return net.pds.ctx.sequencer.currentSeq()
}

test('plain HTTP on the subscribeRepos path answers XRPC JSON errors', async () => {
  const path = '/xrpc/com.atproto.sync.subscribeRepos'
  const get = await fetch(net.url + path)
  assert.is(get.status, 426)
  const getBody = (await get.json()) as { error: string; message: string }
  assert.is(getBody.error, 'InvalidRequest')
  assert.type(getBody.message, 'string')
  const post = await fetch(net.url + path, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  assert.is(post.status, 405)
  assert.is(((await post.json()) as { error: string }).error, "InvalidRequest")

  // a WebSocket upgrade elsewhere gets a JSON 404, not a hang
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(net.url + '/xrpc/_health', {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' },
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('upgrade', () => reject(new Error('upgraded on the wrong path')))
    req.on('error', reject)
    req.end()
  })
  assert.is(status.status, 404)
  assert.is(JSON.parse(status.body).error, 'MethodNotImplemented')
})

test('account creation: #identity, #account (active), empty #commit, #sync, in consecutive seqs', async () => {
  const before = seqNow()
  const sub = await RawSubscriber.connect(net.url)
  const { did, handle } = await net.createAccount('order')
  const frames = await sub.waitFor((fs) => fs.length >= 4, 10_000, 'creation events')
  await sleep(50)
  assert.is(sub.frames.length, 4, 'exactly four events for a new account')
  assert.equal(
    frames.map((f) => f.header),
    [
      { op: 1, t: '#identity' },
      { op: 1, t: '#account' },
      { op: 1, t: '#commit' },
      { op: 1, t: '#sync' },
    ],
  )
  assert.equal(
    frames.map((f) => f.body.seq),
    [before + 1, before + 2, before + 3, before + 4],
  )
  const [identity, account, commit, sync] = frames.map((f) => f.body)
  assert.is(identity.did, did)
  assert.is(identity.handle, handle)
  assert.is(account.did, did)
  assert.is(account.active, true)
  assert.not.ok('status' in account)
  assert.is(commit.repo, did)
  assert.equal(commit.ops, [])
  assert.is(commit.since, null)
  assert.not.ok('prevData' in commit)
  assert.is(sync.did, did)
  assert.is(sync.rev, commit.rev)
  const checker = new StreamChecker(net.plc.url)
  for (const f of frames) await checker.check(f)
  await sub.close()
})

test('a raw consumer verifies every event of a mixed workload (Sync 1.1)', async () => {
  const sub = await RawSubscriber.connect(net.url)
  const a = await net.createAccount()
  const b = await net.createAccount()
  const expectCommits: { did: string; cid: string; rev: string }[] = []
  const uris: string[] = []
  for (let i = 0; i < 12; i++) {
    const who = i % 2 ? a : b
    const r = await who.agent.com.atproto.repo.createRecord({ repo: who.did, collection: COLL, record: { n: i, text: `item ${i}` } })
    uris.push(r.data.uri)
    expectCommits.push({ did: who.did, cid: r.data.commit!.cid, rev: r.data.commit!.rev })
  }
  // update, delete, and one applyWrites commit with create + update + delete
  const rkeyA = uris[1].split('/').pop()!
  const put = await a.agent.com.atproto.repo.putRecord({ repo: a.did, collection: COLL, rkey: rkeyA, record: { n: 1, text: 'changed' } })
  expectCommits.push({ did: a.did, cid: put.data.commit!.cid, rev: put.data.commit!.rev })
  const del = await a.agent.com.atproto.repo.deleteRecord({ repo: a.did, collection: COLL, rkey: uris[3].split('/').pop()! })
  expectCommits.push({ did: a.did, cid: del.data.commit!.cid, rev: del.data.commit!.rev })
  const batch = await b.agent.com.atproto.repo.applyWrites({
    repo: b.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: COLL, rkey: 'batch1', value: { n: 100 } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: COLL, rkey: 'batch2', value: { n: 101 } },
      { $type: 'com.atproto.repo.applyWrites#update', collection: COLL, rkey: uris[0].split('/').pop()!, value: { n: 0, text: 'upd' } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: COLL, rkey: uris[2].split('/').pop()! },
    ],
  })
  expectCommits.push({ did: b.did, cid: batch.data.commit!.cid, rev: batch.data.commit!.rev })

  const end = seqNow()
  await sub.waitForSeq(end)
  const checker = new StreamChecker(net.plc.url)
  for (const f of sub.frames) await checker.check(f)
  assert.is(checker.counts['#commit'], 2 + expectCommits.length)
  assert.is(checker.counts['#identity'], 2)
  assert.is(checker.counts['#sync'], 2)

  const commits = sub.events().filter((f) => f.header.t === '#commit' && f.body.ops.length > 0)
  assert.equal(
    commits.map((f) => ({ did: f.body.repo, cid: f.body.commit.toString(), rev: f.body.rev })),
    expectCommits,
  )
  const last = commits[commits.length - 1].body
  assert.equal(
    last.ops.map((o: any) => o.action),
    ['create', 'create', 'update', 'delete'],
  )
  const updateOp = commits.find((f) => f.body.rev === put.data.commit!.rev)!.body.ops[0]
  assert.is(updateOp.action, 'update')
  assert.is(updateOp.cid.toString(), put.data.cid)
  const deleteOp = commits.find((f) => f.body.rev === del.data.commit!.rev)!.body.ops[0]
  assert.is(deleteOp.cid, null)
  assert.ok(deleteOp.prev)
  await sub.close()
})

test('cursor=0 replays exactly the bytes the live stream carried', async () => {
  const end = seqNow()
  await firstLive.waitForSeq(end)
  const replay = await RawSubscriber.connect(net.url, 0)
  await replay.waitForSeq(end)
  const live = firstLive.frames.filter((f) => f.body.seq <= end)
  const replayed = replay.frames.filter((f) => f.body.seq <= end)
  assert.is(replayed[0].body.seq, 1, 'no OutdatedCursor and nothing skipped')
  assert.is(replayed.length, end)
  assert.is(live.length, end)
  for (let i = 0; i < end; i++) {
    assert.ok(Buffer.from(live[i].bytes).equals(Buffer.from(replayed[i].bytes)), `frame ${i + 1} differs`)
  }
  // and it continues live after the replay
  const { agent, did } = await net.createAccount()
  await agent.com.atproto.repo.createRecord({ repo: did, collection: COLL, record: { after: 'replay' } })
  await replay.waitForSeq(end + 5)
  assert.equal(
    replay.events().map((f) => f.body.seq),
    Array.from({ length: end + 5 }, (_, i) => i + 1),
  )
  await replay.close()
})

test('cursor = current seq: nothing replayed, then live', async () => {
  const cur = seqNow()
  const sub = await RawSubscriber.connect(net.url, cur)
  await sleep(100)
  assert.is(sub.frames.length, 0)
  const { did } = await net.createAccount()
  await sub.waitForSeq(cur + 4)
  assert.equal(
    sub.frames.map((f) => f.body.seq),
    [cur + 1, cur + 2, cur + 3, cur + 4],
  )
  assert.is(sub.frames[0].body.did, did)
  await sub.close()
})

test('FutureCursor: error frame, then close 1008', async () => {
  const sub = await RawSubscriber.connect(net.url, seqNow() + 1)
  const closed = await sub.closed
  assert.is(sub.frames.length, 1)
  const f = sub.frames[0]
  assert.equal(f.header, { op: -1 })
  assert.is(f.body.error, 'FutureCursor')
  assert.type(f.body.message, 'string')
  assert.is(closed.code, 1008)
  assert.is(closed.reason, 'FutureCursor')
})

test('an invalid cursor gets an InvalidRequest error frame and close', async () => {
  for (const bad of ['abc', '-1', '1.5', '99999999999999999999']) {
    const sub = await RawSubscriber.connect(net.url, bad)
    const closed = await sub.closed
    assert.is(closed.code, 1008, bad)
    assert.is(sub.frames.length, 1, bad)
    assert.equal(sub.frames[0].header, { op: -1 })
    assert.is(sub.frames[0].body.error, 'InvalidRequest', bad)
  }
})

test('@atproto/sync Firehose (verifying signatures and proofs) accepts every event', async () => {
  // more traffic while it runs, including updates and deletes
  const firehose = startSyncFirehose(net, () => 0)
  const { events, errors } = firehose
  const c = await net.createAccount()
  const created = await c.agent.com.atproto.repo.createRecord({ repo: c.did, collection: COLL, record: { x: 1 } })
  const rkey = created.data.uri.split('/').pop()!
  await c.agent.com.atproto.repo.putRecord({ repo: c.did, collection: COLL, rkey, record: { x: 2 } })
  await c.agent.com.atproto.repo.deleteRecord({ repo: c.did, collection: COLL, rkey })

  // what the log holds, counted independently from a raw replay
  const end = seqNow()
  const raw = await RawSubscriber.connect(net.url, 0)
  await raw.waitForSeq(end)
  const expected = { create: 0, update: 0, delete: 0, identity: 0, account: 0, sync: 0 } as Record<string, number>
  for (const f of raw.events()) {
    if (f.header.t === '#commit') for (const op of f.body.ops) expected[op.action]++
    else expected[f.header.t!.slice(1)]++
  }
  await raw.close()

  const deadline = Date.now() + 20_000
  const count = () => {
    const got = { create: 0, update: 0, delete: 0, identity: 0, account: 0, sync: 0 } as Record<string, number>
    for (const e of events) got[e.event]++
    return got
  }
  while (Date.now() < deadline && events.filter((e) => e.seq <= end).length < Object.values(expected).reduce((x, y) => x + y)) {
    if (errors.length > 0) break
    await sleep(50)
  }
  await firehose.stop()
  if (errors.length > 0) {
    throw new Error(`Firehose reported: ${errors.map((e) => `${e.message}: ${(e.cause as Error)?.message ?? ''}`).join('; ')}`)
  }
  assert.equal(count(), expected)
  assert.ok(expected.create >= 16 && expected.update >= 2 && expected.delete >= 2, JSON.stringify(expected))
  // every commit the consumer accepted came with the record it claims
  for (const e of events) {
    if (e.event === 'create' || e.event === 'update') assert.ok(e.record, 'record decoded')
  }
  const seqs = events.map((e) => e.seq)
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] >= seqs[i - 1], 'in seq order')
})

test('the first live subscriber saw every event exactly once, in order, and all check out', async () => {
  const end = seqNow()
  await firstLive.waitForSeq(end)
  assert.equal(
    firstLive.events().map((f) => f.body.seq),
    Array.from({ length: end }, (_, i) => i + 1),
  )
  const checker = new StreamChecker(net.plc.url)
  for (const f of firstLive.frames) await checker.check(f)
})

test.run()
