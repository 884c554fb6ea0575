import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TID } from '@atproto/common'
import { cborDecodeMulti } from '@atproto/common'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { RawSubscriber } from './_firehose.ts'
import { expectXrpcError, readFixtureLines } from './_util.ts'

const interop = join(import.meta.dirname, 'fixtures', 'interop')
let net: TestNetwork
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>
let bob: Awaited<ReturnType<TestNetwork['createAccount']>>

const POST = 'app.bsky.feed.post'
const post = (text: string) => ({ $type: POST, text, createdAt: new Date().toISOString() })

async function recordCount(did: string, collection: string): Promise<number> {
  const res = await net.agent().com.atproto.repo.listRecords({ repo: did, collection, limit: 100 })
  return res.data.records.length
}

async function head(did: string): Promise<{ cid: string; rev: string }> {
  const res = await net.agent().com.atproto.sync.getLatestCommit({ did }).catch(() => null)
  if (res) return res.data
  // getLatestCommit belongs to the sync API; fall back to describing the repo through the log
  const row = net.pds.ctx.repo.roots.get(did)!
  return { cid: row.cid, rev: row.rev }
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('alice')
  bob = await net.createAccount('bob')
})

test.after(async () => {
  await net.close()
})

test('createRecord, getRecord, putRecord, deleteRecord round trip', async () => {
  const created = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: post('hello') })
  assert.match(created.data.uri, new RegExp(`^at://${alice.did}/${POST}/`))
  assert.is(created.data.validationStatus, 'valid')
  assert.ok(created.data.commit?.rev)
  const rkey = created.data.uri.split('/').pop()!
  const got = await net.agent().com.atproto.repo.getRecord({ repo: alice.handle, collection: POST, rkey })
  assert.is(got.data.cid, created.data.cid)
  assert.is((got.data.value as any).text, 'hello')

  const put = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: post('edited') })
  assert.is.not(put.data.cid, created.data.cid)
  const got2 = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey })
  assert.is((got2.data.value as any).text, 'edited')

  const del = await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey })
  assert.ok(del.data.commit?.cid)
  await expectXrpcError(() => net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey }), 400, 'RecordNotFound')
  // deleting again is a no-op without a commit
  const again = await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey })
  assert.is(again.data.commit, undefined)
})

test('putRecord creates when missing; custom rkeys and literal keys', async () => {
  const res = await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'Alice' },
  })
  assert.is(res.data.validationStatus, 'valid')
  await expectXrpcError(
    () =>
      alice.agent.com.atproto.repo.putRecord({
        repo: alice.did,
        collection: 'app.bsky.actor.profile',
        rkey: 'notself',
        record: { $type: 'app.bsky.actor.profile', displayName: 'Alice' },
      }),
    400,
    'InvalidRequest',
  )
})

test("a TID this server chooses that a client's record already holds: the create takes the next free one", async () => {
  // TIDs from generators with the same clock id (1 in 32) can meet. With the clock stopped, this
  // server's next choices are predictable: the generator is this process's (the server runs in it)
  const realNow = Date.now
  const frozen = realNow()
  Date.now = () => frozen
  try {
    const t = TID.next()
    // the applyWrites commit takes t+1 as its rev; createRecord then chooses t+2 for its rkey
    const taken = TID.fromTime(t.timestamp() + 2, t.clockid()).toString()
    await alice.agent.com.atproto.repo.applyWrites({
      repo: alice.did,
      writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: POST, rkey: taken, value: post('the client chose this key') }],
    })
    const created = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: post('the server chose') })
    const rkey = created.data.uri.split('/').pop()!
    assert.is.not(rkey, taken)
    assert.ok(rkey > taken, 'a later TID')
    const got = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey })
    assert.is((got.data.value as any).text, 'the server chose')
    const kept = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey: taken })
    assert.is((kept.data.value as any).text, 'the client chose this key')
  } finally {
    Date.now = realNow
  }
})

test('listRecords: limit, cursor, reverse', async () => {
  const coll = 'com.example.listing'
  const rkeys: string[] = []
  for (let i = 0; i < 7; i++) {
    const rkey = TID.nextStr()
    rkeys.push(rkey)
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: coll, rkey, record: { n: i } })
  }
  const page1 = await net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 3 })
  assert.equal(page1.data.records.map((r) => r.uri.split('/').pop()), rkeys.slice(-3).reverse())
  const page2 = await net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 3, cursor: page1.data.cursor })
  assert.equal(page2.data.records.map((r) => r.uri.split('/').pop()), rkeys.slice(1, 4).reverse())
  const rev = await net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 100, reverse: true })
  assert.equal(rev.data.records.map((r) => r.uri.split('/').pop()), rkeys)
  assert.is(rev.data.cursor, undefined)
  await expectXrpcError(() => net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 101 }), 400, 'InvalidRequest')
  await expectXrpcError(() => net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 0 }), 400, 'InvalidRequest')
})

test('swapRecord and swapCommit mismatches are InvalidSwap and change nothing', async () => {
  const a = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: post('v1') })
  const rkey = a.data.uri.split('/').pop()!
  const before = await head(alice.did)
  const wrongCid = (await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: post('other') })).data.cid
  const mid = await head(alice.did)
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: post('v2'), swapRecord: wrongCid }),
    400,
    'InvalidSwap',
  )
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey, swapRecord: wrongCid }),
    400,
    'InvalidSwap',
  )
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: post('x'), swapCommit: before.cid }),
    400,
    'InvalidSwap',
  )
  await expectXrpcError(
    () =>
      alice.agent.com.atproto.repo.applyWrites({
        repo: alice.did,
        swapCommit: before.cid,
        writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: POST, value: post('y') }],
      }),
    400,
    'InvalidSwap',
  )
  // nothing changed
  assert.equal(await head(alice.did), mid)
  const still = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: POST, rkey })
  assert.is(still.data.cid, a.data.cid)
  // the right swaps succeed
  const ok = await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did, collection: POST, rkey, record: post('v2'), swapRecord: a.data.cid, swapCommit: mid.cid,
  })
  assert.ok(ok.data.commit)
  // swapRecord: null means "must not exist"
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: POST, rkey, record: post('v3'), swapRecord: null as any }),
    400,
    'InvalidSwap',
  )
})

test('validate: unset, true, false and unknown lexicons', async () => {
  const unknown = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.thing', record: { a: 1 } })
  assert.is(unknown.data.validationStatus, 'unknown')
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.thing', record: { a: 1 }, validate: true }),
    400,
    'InvalidRecord',
  )
  // a known lexicon with an invalid record
  const before = await recordCount(alice.did, POST)
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { $type: POST, text: 123 } as any }),
    400,
    'InvalidRecord',
  )
  // validate:false skips the schema but not the data model; no validationStatus
  const skipped = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did, collection: POST, record: { $type: POST, text: 123 } as any, validate: false,
  })
  assert.is(skipped.data.validationStatus, undefined)
  assert.is(await recordCount(alice.did, POST), before + 1)
  // $type mismatch is refused whatever validate says
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: POST, record: { $type: 'app.bsky.feed.like' }, validate: false }),
    400,
    'InvalidRecord',
  )
  // a missing $type is filled in from the collection
  const filled = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.thing', record: { b: 2 } })
  const got = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: 'com.example.thing', rkey: filled.data.uri.split('/').pop()! })
  assert.is((got.data.value as any).$type, 'com.example.thing')
})

test('app.carrel.* records are validated against our own lexicons', async () => {
  const now = new Date().toISOString()
  const book = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.carrel.library.book',
    record: { title: 'The Hobbit', authors: ['J. R. R. Tolkien'], readingStatus: 'reading', rating: 5, progress: 40, createdAt: now },
  })
  assert.is(book.data.validationStatus, 'valid')
  for (const bad of [
    { authors: ['no title'], createdAt: now },
    { title: 'Rated too high', rating: 9, createdAt: now },
    { title: 'Progress', progress: 140, createdAt: now },
    { title: 'No date' },
    { title: 'Bad date', createdAt: 'yesterday' },
  ]) {
    await expectXrpcError(
      () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.carrel.library.book', record: bad }),
      400,
      'InvalidRecord',
    )
  }
  // a cover must be an uploaded image blob
  const cover = await alice.agent.com.atproto.repo.uploadBlob(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]), {
    encoding: 'image/png',
  })
  const withCover = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.carrel.library.book',
    record: { title: 'Covered', cover: cover.data.blob, createdAt: now },
  })
  assert.is(withCover.data.validationStatus, 'valid')
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({
      repo: alice.did, collection: 'app.carrel.library.book', record: { title: 'Bad cover', cover: 'not a blob', createdAt: now },
    }),
    400,
    'InvalidRecord',
  )
  const device = await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: 'app.carrel.sync.device',
    rkey: 'laptop-7f3a',
    record: { name: 'Laptop', platform: 'linux', appVersion: '1.2.0', createdAt: now },
  })
  assert.is(device.data.validationStatus, 'valid')
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({
      repo: alice.did, collection: 'app.carrel.library.book', rkey: 'not-a-tid', record: { title: 'x', createdAt: now },
    }),
    400,
    'InvalidRequest',
  )
})

test('every invalid record key and collection NSID from the interop fixtures is refused', async () => {
  for (const rkey of readFixtureLines(join(interop, 'syntax', 'recordkey_syntax_invalid.txt'))) {
    await expectXrpcError(
      () => alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'com.example.thing', rkey, record: { a: 1 } }),
      400,
      'InvalidRequest',
    )
  }
  for (const nsid of readFixtureLines(join(interop, 'syntax', 'nsid_syntax_invalid.txt'))) {
    const res = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.agent.session!.accessJwt}` },
      body: JSON.stringify({ repo: alice.did, collection: nsid, record: { a: 1 } }),
    })
    assert.is(res.status, 400, `collection ${JSON.stringify(nsid)}`)
    assert.is(((await res.json()) as any).error, 'InvalidRequest')
  }
})

test('every invalid data-model case from the interop fixtures is refused, even with validate:false', async () => {
  const cases = JSON.parse(readFileSync(join(interop, 'data-model', 'data-model-invalid.json'), 'utf8')) as { note: string; json: unknown }[]
  const before = await recordCount(alice.did, 'com.example.datamodel')
  for (const c of cases) {
    const record = typeof c.json === 'object' && c.json !== null ? { ...(c.json as object), $type: 'com.example.datamodel' } : c.json
    for (const validate of [false, undefined]) {
      const res = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.agent.session!.accessJwt}` },
        body: JSON.stringify({ repo: alice.did, collection: 'com.example.datamodel', record, validate }),
      })
      assert.is(res.status, 400, `${c.note} (validate ${validate})`)
      const body = (await res.json()) as any
      assert.type(body.error, 'string')
      assert.type(body.message, 'string')
    }
  }
  // valid data-model cases are all accepted
  const valid = JSON.parse(readFileSync(join(interop, 'data-model', 'data-model-valid.json'), 'utf8')) as { json: any }[]
  for (const c of valid) {
    const record = { ...c.json, $type: 'com.example.datamodelok' }
    const res = await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did, collection: 'com.example.datamodelok', record, validate: false,
    })
    // stored exactly: $link, $bytes and blob objects come back as they were sent
    const got = await fetch(`${net.url}/xrpc/com.atproto.repo.getRecord?repo=${alice.did}&collection=com.example.datamodelok&rkey=${res.data.uri.split('/').pop()}`)
    assert.equal(((await got.json()) as any).value, record)
  }
  assert.is(await recordCount(alice.did, 'com.example.datamodel'), before)
})

test('records nested too deeply or too large are refused', async () => {
  let deep: any = { leaf: true }
  for (let i = 0; i < 40; i++) deep = { d: deep }
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.deep', record: deep, validate: false }),
    400,
    'InvalidRecord',
  )
  const big = { blob: 'x'.repeat(1_100_000) }
  const res = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.agent.session!.accessJwt}` },
    body: JSON.stringify({ repo: alice.did, collection: 'com.example.big', record: big }),
  })
  assert.ok(res.status === 400 || res.status === 413, `status ${res.status}`)
  const body = (await res.json()) as any
  assert.ok(['RecordTooLarge', 'PayloadTooLarge'].includes(body.error), body.error)
})

test('a commit whose CAR slice, as relays receive it, would pass 2,000,000 bytes is refused; the largest accepted one fits', async () => {
  const carol = await net.createAccount('carsize')
  const sub = await RawSubscriber.connect(net.url)
  const BIG = 'com.example.carsize'
  const pair = (n: number) =>
    ['a', 'b'].map((rkey) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: BIG,
      rkey,
      value: { $type: BIG, t: (rkey === 'a' ? 'x' : 'y').repeat(n) },
    }))
  const tryPair = async (n: number): Promise<number | undefined> => {
    const res = await fetch(`${net.url}/xrpc/com.atproto.repo.applyWrites`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${carol.agent.session!.accessJwt}` },
      body: JSON.stringify({ repo: carol.did, writes: pair(n), validate: false }),
    })
    const body = (await res.json()) as any
    if (res.status !== 200) {
      assert.is(res.status, 400, JSON.stringify(body))
      assert.match(body.message, /too large/)
      return undefined
    }
    const rev = body.commit.rev
    await sub.waitFor((fs) => fs.some((f) => f.header.t === '#commit' && f.body.rev === rev))
    const frame = sub.frames.find((f) => f.header.t === '#commit' && f.body.rev === rev)!
    // back to an empty repo for the next probe
    await carol.agent.com.atproto.repo.applyWrites({
      repo: carol.did,
      writes: ['a', 'b'].map((rkey) => ({ $type: 'com.atproto.repo.applyWrites#delete' as const, collection: BIG, rkey })),
    })
    return (frame.body.blocks as Uint8Array).byteLength
  }
  // the largest accepted size, by bisection: every accepted commit's CAR is within the limit
  // two records just under the 1,000,000-byte record limit each
  let lo = 900_000
  let hi = 999_900
  const loCar = await tryPair(lo)
  assert.ok(loCar !== undefined && loCar <= 2_000_000, `CAR of ${loCar} bytes`)
  assert.is(await tryPair(hi), undefined)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    const car = await tryPair(mid)
    if (car === undefined) hi = mid
    else {
      assert.ok(car <= 2_000_000, `an accepted commit's CAR holds ${car} bytes`)
      lo = mid
    }
  }
  // the boundary is the CAR's size: the largest accepted commit's slice is within a few bytes of it
  const car = (await tryPair(lo))!
  assert.ok(car <= 2_000_000 && car > 2_000_000 - 8, `largest accepted CAR: ${car} bytes`)
  await sub.close()
})

test('every character of a record is kept by every read: a leading U+FEFF in a key or a string too', async () => {
  const value = { $type: 'com.example.bom', '\ufeffkey': '\ufeffvalue', list: ['\ufeff', 'plain'], nested: { t: '\ufeff\ufeffx' } }
  const created = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.bom', record: value })
  const rkey = created.data.uri.split('/').pop()!
  const got = await fetch(`${net.url}/xrpc/com.atproto.repo.getRecord?repo=${alice.did}&collection=com.example.bom&rkey=${rkey}`)
  assert.equal(((await got.json()) as any).value, value)
  const listed = await fetch(`${net.url}/xrpc/com.atproto.repo.listRecords?repo=${alice.did}&collection=com.example.bom`)
  assert.equal(((await listed.json()) as any).records.map((r: any) => r.value), [value])
  const changes = await fetch(`${net.url}/xrpc/app.carrel.sync.getChanges?repo=${alice.did}&collections=com.example.bom`)
  assert.equal(((await changes.json()) as any).changes.map((c: any) => c.record), [value])
})

test('writes to a repo that is not the caller’s are 403; unauthenticated writes are 401', async () => {
  const before = await head(bob.did)
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.createRecord({ repo: bob.did, collection: POST, record: post('intrusion') }),
    403,
    'Forbidden',
  )
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.applyWrites({
      repo: bob.handle,
      writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: POST, value: post('intrusion') }],
    }),
    403,
    'Forbidden',
  )
  await expectXrpcError(
    () => net.agent().com.atproto.repo.createRecord({ repo: bob.did, collection: POST, record: post('anon') }),
    401,
    'AuthMissing',
  )
  assert.equal(await head(bob.did), before)
})

test('applyWrites: atomic batches of creates, updates and deletes; at most 200', async () => {
  const coll = 'com.example.batch'
  const writes = Array.from({ length: 200 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create' as const, collection: coll, rkey: `k${i}`, value: { i },
  }))
  const res = await alice.agent.com.atproto.repo.applyWrites({ repo: alice.did, writes })
  assert.is(res.data.results?.length, 200)
  let count = 0
  let cursor: string | undefined
  do {
    const page = await net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll, limit: 100, cursor })
    count += page.data.records.length
    cursor = page.data.cursor
  } while (cursor)
  assert.is(count, 200)
  const mixed = await alice.agent.com.atproto.repo.applyWrites({
    repo: alice.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#update', collection: coll, rkey: 'k0', value: { i: 'updated' } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: coll, rkey: 'k1' },
      { $type: 'com.atproto.repo.applyWrites#create', collection: coll, rkey: 'new', value: { i: 'new' } },
    ],
  })
  assert.equal(mixed.data.results?.map((r) => r.$type), [
    'com.atproto.repo.applyWrites#updateResult',
    'com.atproto.repo.applyWrites#deleteResult',
    'com.atproto.repo.applyWrites#createResult',
  ])
  // a batch with one bad write changes nothing
  const before = await head(alice.did)
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.applyWrites({
      repo: alice.did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#create', collection: coll, rkey: 'fine', value: { i: 1 } },
        { $type: 'com.atproto.repo.applyWrites#create', collection: coll, rkey: 'bad', value: { f: 1.5 } as any },
      ],
    }),
    400,
    'InvalidRecord',
  )
  await expectXrpcError(
    () => alice.agent.com.atproto.repo.applyWrites({
      repo: alice.did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#create', collection: coll, rkey: 'fine2', value: { i: 1 } },
        { $type: 'com.atproto.repo.applyWrites#delete', collection: coll, rkey: 'does-not-exist' },
      ],
    }),
    400,
    'InvalidRequest',
  )
  assert.equal(await head(alice.did), before)
  await expectXrpcError(
    () => net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: coll, rkey: 'fine' }),
    400,
    'RecordNotFound',
  )
  const tooMany = Array.from({ length: 201 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create' as const, collection: coll, rkey: `t${i}`, value: { i },
  }))
  await expectXrpcError(() => alice.agent.com.atproto.repo.applyWrites({ repo: alice.did, writes: tooMany }), 400, 'InvalidRequest')
  assert.equal(await head(alice.did), before)
})

test('describeRepo: handle, DID document, collections', async () => {
  const res = await net.agent().com.atproto.repo.describeRepo({ repo: alice.handle })
  assert.is(res.data.did, alice.did)
  assert.is(res.data.handle, alice.handle)
  assert.is(res.data.handleIsCorrect, true)
  assert.is((res.data.didDoc as any).id, alice.did)
  assert.ok(res.data.collections.includes(POST))
  assert.ok(res.data.collections.includes('com.example.batch'))
  assert.equal([...res.data.collections].sort(), res.data.collections)
  await expectXrpcError(() => net.agent().com.atproto.repo.describeRepo({ repo: 'nobody.test' }), 400, 'RepoNotFound')
})

test('20 concurrent createRecord calls: all present, one linear chain of increasing revs', async () => {
  const carol = await net.createAccount('carol')
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      carol.agent.com.atproto.repo.createRecord({ repo: carol.did, collection: POST, record: post(`concurrent ${i}`) }),
    ),
  )
  assert.is(new Set(results.map((r) => r.data.uri)).size, 20)
  assert.is(await recordCount(carol.did, POST), 20)
  // the firehose log holds every commit of the repo in order: each one's `since` is the
  // previous one's rev, and revs strictly increase
  const frames = net.pds.ctx.db.sqlite
    .prepare(`SELECT frame FROM repo_seq WHERE did = ? AND event_type = '#commit' ORDER BY seq`)
    .all(carol.did) as { frame: Buffer }[]
  const commits = frames.map((f) => cborDecodeMulti(new Uint8Array(f.frame))[1] as any)
  assert.is(commits.length, 21) // the empty initial commit + 20
  for (let i = 1; i < commits.length; i++) {
    assert.is(commits[i].since, commits[i - 1].rev)
    assert.ok(commits[i].rev > commits[i - 1].rev)
  }
  const revs = results.map((r) => r.data.commit!.rev).sort()
  assert.equal(revs, commits.slice(1).map((c) => c.rev))
})

test.run()
