// Records through a running server, checked against the libraries our encoders replace: every
// stored record block must be byte for byte what @atproto/lex-cbor gives for the value written,
// whoever else writes what, and every repo's MST root what @atproto/repo's MST gives for the
// same records. Two accounts write interleaved, with hostile key shapes (NUL in keys, records
// with thousands of distinct shapes); the random records come from a seeded generator (a
// failure prints TEST_SEED; TEST_SEED=<n> writes the same records again).
import { decode as lexCborDecode, encode as lexCborEncode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { IdResolver } from '@atproto/identity'
import { jsonToLex } from '@atproto/lexicon'
import { blocksToCarFile, MemoryBlockstore, MST, readCarWithRoot, verifyProofs, verifyRepo } from '@atproto/repo'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { RawSubscriber, StreamChecker, type Frame } from './_firehose.ts'
import { assertBytes, getRepoCar, rawXrpc } from './_util.ts'
import { HOSTILE_KEYS, objectOf, randomMap, Rng, sha256CborCid, testSeed } from './_random-data.ts'

type Account = { did: string; token: string; name: string }

let net: TestNetwork
let sub: RawSubscriber
let idResolver: IdResolver

test.before(async () => {
  net = await startNetwork()
  idResolver = new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch })
  // connected before any account exists: every commit arrives live
  sub = await RawSubscriber.connect(net.url)
})

test.after(async () => {
  await sub?.close()
  await net?.close()
})

async function newAccount(name: string): Promise<Account> {
  const res = await rawXrpc(net.url, 'com.atproto.server.createAccount', {
    body: { handle: `${name}.test`, email: `${name}@mail.test`, password: 'correct horse battery staple' },
  })
  assert.is(res.status, 200, JSON.stringify(res.body))
  return { did: res.body.did, token: res.body.accessJwt, name }
}

/** What the block of a record written as this JSON must be: @atproto/lex-cbor's bytes, and their CID. */
function expectedBlock(json: unknown): { bytes: Uint8Array; cid: Cid } {
  const bytes = lexCborEncode(jsonToLex(json as never) as never)
  return { bytes, cid: sha256CborCid(bytes) }
}

async function write(account: Account, nsid: string, body: Record<string, unknown>): Promise<any> {
  const res = await rawXrpc(net.url, nsid, { body: { repo: account.did, ...body }, token: account.token })
  assert.is(res.status, 200, `${nsid}: ${JSON.stringify(res.body).slice(0, 300)}`)
  return res.body
}

async function syncGetRecord(did: string, collection: string, rkey: string): Promise<Uint8Array> {
  const url = new URL('/xrpc/com.atproto.sync.getRecord', net.url)
  url.searchParams.set('did', did)
  url.searchParams.set('collection', collection)
  url.searchParams.set('rkey', rkey)
  const res = await fetch(url)
  assert.is(res.status, 200)
  return new Uint8Array(await res.arrayBuffer())
}

/** The value and CID repo.getRecord answers, the value as the CBOR @atproto/lex-cbor gives for it. */
async function readBack(did: string, collection: string, rkey: string): Promise<{ bytes: Uint8Array; cid: string; value: any }> {
  const res = await rawXrpc(net.url, 'com.atproto.repo.getRecord', { params: { repo: did, collection, rkey } })
  assert.is(res.status, 200, JSON.stringify(res.body))
  return { bytes: lexCborEncode(jsonToLex(res.body.value) as never), cid: res.body.cid, value: res.body.value }
}

/** A record with `count` object shapes no earlier record had: more than any key-order cache holds. */
let flushes = 0
function shapeFlood(count: number): Record<string, unknown> {
  const round = (flushes++).toString(36)
  return { $type: 'com.example.flood', many: Array.from({ length: count }, (_, i) => ({ [`${round}f${i.toString(36)}`]: i })) }
}

function commitFrameOf(frames: Frame[], commitCid: string): Frame | undefined {
  return frames.find((f) => f.header.t === '#commit' && f.body.commit?.toString() === commitCid)
}

test('issue 9: a record with a NUL in a key does not change another account\'s like', async () => {
  const a = await newAccount('nul-writer')
  const b = await newAccount('liker')
  // a warm server is no protection: a record with thousands of shapes empties any cache first
  await write(a, 'com.atproto.repo.createRecord', { collection: 'com.example.flood', record: shapeFlood(9000), validate: false })
  const hostile = { $type: 'com.example.thing', x: { 'uri\u0000cid': 'zz' } }
  const written = await write(a, 'com.atproto.repo.createRecord', { collection: 'com.example.thing', record: hostile, validate: false })

  const like = { $type: 'app.bsky.feed.like', subject: { uri: written.uri, cid: written.cid }, createdAt: new Date().toISOString() }
  const liked = await write(b, 'com.atproto.repo.createRecord', { collection: 'app.bsky.feed.like', record: like })
  const rkey = liked.uri.split('/').pop()!
  const expected = expectedBlock(like)
  assert.is(liked.cid, expected.cid.toString(), 'the CID createRecord answers')

  // getRecord: the value as written
  const back = await readBack(b.did, 'app.bsky.feed.like', rkey)
  assert.equal(back.value, like)
  assert.is(back.cid, expected.cid.toString())

  // the record proof and the repo CAR hold exactly these bytes, and verify
  const signingKey = await idResolver.did.resolveAtprotoKey(b.did)
  const proof = await syncGetRecord(b.did, 'app.bsky.feed.like', rkey)
  assertBytes((await readCarWithRoot(proof)).blocks.get(expected.cid), expected.bytes, 'sync.getRecord block')
  const proven = await verifyProofs(proof, [{ collection: 'app.bsky.feed.like', rkey, cid: expected.cid }], b.did, signingKey)
  assert.is(proven.verified.length, 1)
  const car = await readCarWithRoot(await getRepoCar(net.url, b.did))
  assertBytes(car.blocks.get(expected.cid), expected.bytes, 'getRepo block')

  // the firehose: B's #commit carries the like's CID and block
  const frames = await sub.waitFor((fs) => commitFrameOf(fs, liked.commit.cid) !== undefined, 10_000, "B's #commit")
  const frame = commitFrameOf(frames, liked.commit.cid)!
  assert.is(frame.body.repo, b.did)
  const op = frame.body.ops.find((o: { path: string }) => o.path === `app.bsky.feed.like/${rkey}`)
  assert.is(op?.cid?.toString(), expected.cid.toString(), 'op CID on the firehose')
  assertBytes((await readCarWithRoot(frame.body.blocks)).blocks.get(expected.cid), expected.bytes, '#commit block')

  // and A's own record is stored as written
  const own = await readBack(a.did, 'com.example.thing', written.uri.split('/').pop()!)
  assert.equal(own.value, hostile)
  assert.is(own.cid, expectedBlock(hostile).cid.toString())
})

// ---- random records from two accounts -------------------------------------------------------

const RKEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:~'

const TID_CHARS = '234567abcdefghijklmnopqrstuvwxyz'

/** A record key: a TID where the lexicon asks for one (likes), else any record-key characters. */
function randomRkey(rng: Rng, collection: string): string {
  if (collection === 'app.bsky.feed.like') {
    let tid = TID_CHARS[rng.int(16)]!
    for (let i = 0; i < 12; i++) tid += TID_CHARS[rng.int(32)]
    return tid
  }
  const n = rng.chance(0.05) ? 100 + rng.int(400) : 1 + rng.int(20)
  let s = 'r'
  for (let i = 0; i < n; i++) s += RKEY_CHARS[rng.int(RKEY_CHARS.length)]
  return s
}

type RepoModel = {
  account: Account
  /** path -> the JSON written there */
  records: Map<string, unknown>
  /** @atproto/repo's MST over the same records */
  mst: MST
}

type Write = { action: 'create' | 'update' | 'delete'; collection: string; rkey: string; value?: unknown }

/** The hostile keys a record may hold over JSON (no `$`-prefixed ones but $type). */
const JSON_HOSTILE_KEYS = HOSTILE_KEYS.filter((k) => !k.startsWith('$'))

const COLLECTIONS = ['com.example.diff.alpha', 'com.example.diff.beta', 'app.bsky.feed.like']

test('random records from two accounts, interleaved: every block, CID, MST root and CAR as the libraries give', async () => {
  const seed = testSeed()
  console.log(`records: TEST_SEED=${seed}`)
  const rng = new Rng(seed)
  const valueOpts = { lex: false, dollarKeys: false, protoKey: false, maxDepth: 5, maxBytes: 2000 }
  const models: RepoModel[] = []
  for (const name of ['diff-a', 'diff-b']) {
    models.push({ account: await newAccount(name), records: new Map(), mst: await MST.create(new MemoryBlockstore()) })
  }
  /** commit CID -> [repo, the MST root @atproto/repo computed for that commit, the record CIDs written] */
  const expectedCommits = new Map<string, { did: string; root: string; cids: Map<string, string> }>()
  let sinceRev: { did: string; rev: string } | undefined
  const bulkPaths = new Set<string>()

  const recordFor = (collection: string, other: RepoModel): Record<string, unknown> => {
    if (collection === 'app.bsky.feed.like') {
      // a strong ref to one of the other account's records: the {uri, cid} shape hostile keys target
      const paths = [...other.records.keys()]
      const path = paths.length > 0 ? rng.pick(paths) : 'com.example.diff.alpha/none'
      const cid = paths.length > 0 ? expectedBlock(other.records.get(path)).cid.toString() : expectedBlock({}).cid.toString()
      return { $type: collection, subject: { uri: `at://${other.account.did}/${path}`, cid }, createdAt: new Date().toISOString() }
    }
    const value = randomMap(rng, valueOpts)
    if (rng.chance(0.15)) value[rng.pick(JSON_HOSTILE_KEYS)] = rng.pick(['zz', 1, { uri: 'u', cid: 'c' }])
    // large blocks now and then: past the export's 4 KB inline limit, and past its 256 KB chunk
    if (rng.chance(0.05)) value.big = 'b'.repeat(rng.chance(0.2) ? 300_000 : 5000 + rng.int(5000))
    return objectOf([['$type', collection], ...Object.entries(value).filter(([k]) => k !== '$type')])
  }

  const ROUNDS = 70
  for (let round = 0; round < ROUNDS; round++) {
    // rounds 10 to 13 create 200 records each in the first account: more blocks than an export page
    const bulk = round >= 10 && round <= 13
    const me = models[bulk || rng.chance(0.5) ? 0 : 1]!
    const other = models[me === models[0] ? 1 : 0]!
    // one batch of distinct paths: creates, and updates or deletes of what this account has
    const writes: Write[] = []
    const touched = new Set<string>()
    const size = bulk ? 200 : rng.chance(0.4) ? 1 : 2 + rng.int(8)
    for (let i = 0; i < size; i++) {
      const existing = [...me.records.keys()].filter((p) => !touched.has(p))
      if (!bulk && existing.length > 0 && rng.chance(0.3)) {
        const path = rng.pick(existing)
        const [collection, rkey] = path.split('/') as [string, string]
        touched.add(path)
        if (rng.chance(0.5)) writes.push({ action: 'delete', collection, rkey })
        else writes.push({ action: 'update', collection, rkey, value: recordFor(collection, other) })
      } else {
        // bulk batches (200 writes: more than one export page of blocks) are plain small records
        const collection = rng.pick(bulk ? COLLECTIONS.slice(0, 2) : COLLECTIONS)
        const rkey = randomRkey(rng, collection)
        const path = `${collection}/${rkey}`
        if (touched.has(path) || me.records.has(path)) continue
        touched.add(path)
        if (bulk) bulkPaths.add(path)
        writes.push({ action: 'create', collection, rkey, value: bulk ? { $type: collection, n: i, text: `bulk ${round} ${i}` } : recordFor(collection, other) })
      }
    }
    if (round % 23 === 5) writes.push({ action: 'create', collection: 'com.example.flood', rkey: `flood${round}`, value: shapeFlood(9000) })
    if (round === 3) writes.push({ action: 'create', collection: 'com.example.big', rkey: 'big', value: { $type: 'com.example.big', big: 'b'.repeat(300_000) } })

    // the same batch through createRecord / putRecord / deleteRecord when it is one write
    let res: any
    const validate = writes.some((w) => w.collection === 'app.bsky.feed.like') && rng.chance(0.5) ? undefined : false
    if (writes.length === 1 && rng.chance(0.7)) {
      const [w] = writes as [Write]
      if (w.action === 'delete') res = await write(me.account, 'com.atproto.repo.deleteRecord', { collection: w.collection, rkey: w.rkey })
      else if (w.action === 'update' || rng.chance(0.5)) res = await write(me.account, 'com.atproto.repo.putRecord', { collection: w.collection, rkey: w.rkey, record: w.value, validate })
      else res = await write(me.account, 'com.atproto.repo.createRecord', { collection: w.collection, rkey: w.rkey, record: w.value, validate })
    } else {
      res = await write(me.account, 'com.atproto.repo.applyWrites', {
        validate,
        writes: writes.map((w) => ({ $type: `com.atproto.repo.applyWrites#${w.action}`, collection: w.collection, rkey: w.rkey, ...(w.value ? { value: w.value } : {}) })),
      })
    }
    const commitCid: string = res.commit.cid
    const commitRev: string = res.commit.rev

    // the model: the records and @atproto/repo's MST after this commit
    const cids = new Map<string, string>()
    for (const w of writes) {
      const path = `${w.collection}/${w.rkey}`
      if (w.action === 'delete') {
        me.records.delete(path)
        me.mst = await me.mst.delete(path)
        continue
      }
      const { cid } = expectedBlock(w.value)
      cids.set(path, cid.toString())
      me.mst = w.action === 'create' ? await me.mst.add(path, cid as never) : await me.mst.update(path, cid as never)
      me.records.set(path, w.value)
    }
    expectedCommits.set(commitCid, { did: me.account.did, root: (await me.mst.getPointer()).toString(), cids })
    if (round === ROUNDS / 2) sinceRev = { did: me.account.did, rev: commitRev }
  }

  // every #commit on the firehose: valid for a strict relay (signature, ops, inversion to
  // prevData), its data root what @atproto/repo's MST gave, its record CIDs and blocks ours
  const frames = await sub.waitFor((fs) => [...expectedCommits.keys()].every((c) => commitFrameOf(fs, c)), 20_000, 'every #commit')
  const checker = new StreamChecker(net.plc.url)
  let seen = 0
  for (const f of frames) {
    await checker.check(f)
    const expected = f.header.t === '#commit' ? expectedCommits.get(f.body.commit.toString()) : undefined
    if (!expected) continue
    seen++
    const car = await readCarWithRoot(f.body.blocks) // checks every block's bytes against its CID
    const commit = lexCborDecode(car.blocks.get(car.root)!) as { data: Cid }
    assert.is(commit.data.toString(), expected.root, `MST root of commit ${f.body.commit} (TEST_SEED=${seed})`)
    for (const op of f.body.ops as { path: string; cid: Cid | null }[]) {
      if (!op.cid) continue
      assert.is(op.cid.toString(), expected.cids.get(op.path), `${op.path} (TEST_SEED=${seed})`)
      assert.ok(car.blocks.has(op.cid), `${op.path}: block in the #commit`)
    }
  }
  assert.is(seen, expectedCommits.size)

  for (const model of models) {
    const { did } = model.account
    const bytes = await getRepoCar(net.url, did)
    const { root, blocks } = await readCarWithRoot(bytes)
    if (model === models[0]) assert.ok(blocks.size > 1000, `${blocks.size} blocks: more than one export page`)
    // the export's framing (CarChunker, across pages and large blocks) is @atproto/repo's
    assertBytes(bytes, await blocksToCarFile(root, blocks), `${model.account.name}: getRepo CAR framing`)
    const verified = await verifyRepo(blocks, root, did, await idResolver.did.resolveAtprotoKey(did))
    assert.is(verified.commit.cid.toString(), root.toString())
    const commit = lexCborDecode(blocks.get(root)!) as { data: Cid }
    assert.is(commit.data.toString(), (await model.mst.getPointer()).toString(), `${model.account.name}: MST root (TEST_SEED=${seed})`)
    const stored = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid]))
    assert.equal([...stored.keys()].sort(), [...model.records.keys()].sort(), `${model.account.name}: the paths`)
    let i = 0
    for (const [path, json] of model.records) {
      const expected = expectedBlock(json)
      const label = `${model.account.name} ${path} (TEST_SEED=${seed})`
      assert.is(stored.get(path)?.toString(), expected.cid.toString(), label)
      assertBytes(blocks.get(expected.cid), expected.bytes, label)
      // every random record read back; of the bulk ones (alike, all the same shape), one in ten
      if (bulkPaths.has(path) && i++ % 10 !== 0) continue
      const [collection, rkey] = path.split('/') as [string, string]
      const back = await readBack(did, collection, rkey)
      assert.is(back.cid, expected.cid.toString(), label)
      assertBytes(back.bytes, expected.bytes, `${label}: getRecord value`)
      if (i++ % 5 === 0) {
        const proof = await readCarWithRoot(await syncGetRecord(did, collection, rkey))
        assertBytes(proof.blocks.get(expected.cid), expected.bytes, `${label}: sync.getRecord`)
      }
    }
  }

  // an export since a middle rev: the same framing as @atproto/repo's writer
  assert.ok(sinceRev)
  const diff = await getRepoCar(net.url, sinceRev.did, sinceRev.rev)
  const { root, blocks } = await readCarWithRoot(diff)
  assertBytes(diff, await blocksToCarFile(root, blocks), 'getRepo?since CAR framing')
  assert.ok(blocks.size > 1)
})

test.run()
