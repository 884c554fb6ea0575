// com.atproto.repo.importRepo against a real server, with repositories the test builds and signs
// itself (it plays the account's old server: it holds the DID's signing key). What an import
// takes (records, their blob references, a new commit of this server's after the imported rev),
// and what it refuses with nothing stored: a bad signature, a block whose bytes are not its CID's,
// a repo of another DID, a CAR over the limit (declared, streamed, compressed), malformed CARs,
// missing or non-canonical MST nodes, records a write would refuse. Then re-imports, an active
// account restoring its own export (#sync), one import at a time, a taken-down account.
import { createHash, randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { TID } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import { decode as cborDecode, encode as cborEncode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { verifyCommitSig, type Commit } from '@atproto/repo'
import { cidForCborBytes } from '../src/repo/cid.ts'
import type { CommitHook, RecordOp } from '../src/repo/types.ts'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { RawSubscriber, StreamChecker } from './_firehose.ts'
import { startPlc, type Plc } from './_harness.ts'
import { createOwnDid, serviceToken, type OwnDid } from './_own-did.ts'
import { buildRepo, carOf, cborBlock, cborText, handmadeRepo, rawCborBlock, type RecordSpec } from './_repo-car.ts'
import { startServer, stopServer, type Server } from './_servers.ts'
import { expectXrpcError, getRepoCar } from './_util.ts'

const DEST_DID = 'did:web:import-pds.carrel.test'
const LIMIT = 200_000
const PASSWORD = 'correct horse battery staple'
const CAR = 'application/vnd.ipld.car'

let plc: Plc
let dest: Server
let mover: OwnDid
let agent: AtpAgent

test.before(async () => {
  plc = await startPlc()
  dest = await startServer(plc, DEST_DID, { PDS_MAX_REPO_IMPORT_SIZE: String(LIMIT) })
  mover = await createOwnDid(plc.url, 'mover.test')
  agent = await arrive(mover, 'mover.test')
})

test.after(async () => {
  await stopServer(dest)
  await plc?.close()
})

/** An account arriving with its DID (deactivated), logged in. */
async function arrive(own: OwnDid, handle: string): Promise<AtpAgent> {
  const token = await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp: Math.floor(Date.now() / 1000) + 60 })
  const a = dest.agent()
  await a.createAccount({ did: own.did, handle, email: `${handle}@mail.test`, password: PASSWORD }, { headers: { authorization: `Bearer ${token}` } })
  return a
}

/** A blob object for `bytes`, as uploadBlob would answer it (CIDv1, raw codec, sha2-256). */
const blobRef = (bytes: Uint8Array, mimeType: string) => {
  const cid = CID.createV1(0x55, createDigest(0x12, createHash('sha256').update(bytes).digest()))
  return { $type: 'blob', ref: cid, mimeType, size: bytes.length }
}

function posts(n: number, label: string): RecordSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    collection: 'app.bsky.feed.post',
    rkey: TID.nextStr(),
    record: { $type: 'app.bsky.feed.post', text: `${label} ${i}`, createdAt: new Date().toISOString() },
  }))
}

function stagingRows(): number {
  const q = (t: string) => (dest.pds.ctx.db.sqlite.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n
  return q('import_block') + q('import_node') + q('import_leaf')
}

async function status(a: AtpAgent = agent) {
  return (await a.com.atproto.server.checkAccountStatus()).data
}

function importCar(car: Uint8Array, a: AtpAgent = agent) {
  return a.com.atproto.repo.importRepo(car, { encoding: CAR })
}

/** What must not change when an import is refused: the repo, its record rows, the event log, and staging is empty again. */
async function snapshot(did: string, a: AtpAgent = agent) {
  const db = dest.pds.ctx.db.sqlite
  return {
    status: await status(a),
    records: db.prepare('SELECT collection, rkey, cid FROM record WHERE did = ? ORDER BY collection, rkey').all(did),
    blobRefs: db.prepare('SELECT record_uri, blob_cid FROM record_blob WHERE did = ? ORDER BY record_uri, blob_cid').all(did),
    seq: dest.pds.ctx.sequencer.currentSeq(),
  }
}

async function expectRefusedImport(car: Uint8Array, status: number, error: string, message: RegExp, did = mover.did, a = agent) {
  const before = await snapshot(did, a)
  const err = await expectXrpcError(() => importCar(car, a), status, error)
  assert.match(err.message, message)
  assert.equal(await snapshot(did, a), before, `nothing changed (${err.message})`)
  assert.is(stagingRows(), 0, 'staging emptied')
}

const avatar = (() => {
  const bytes = new Uint8Array(randomBytes(2000))
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0)
  return bytes
})()
const attachment = new Uint8Array(randomBytes(9000))

test('an arriving account imports a repo: records, blob references, no event, a commit of this server after the imported rev', async () => {
  const records = [
    ...posts(30, 'imported'),
    { collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'Mover', avatar: blobRef(avatar, 'image/png') } },
    { collection: 'com.example.import.file', rkey: 'one', record: { $type: 'com.example.import.file', file: blobRef(attachment, 'application/octet-stream') } },
  ]
  const built = await buildRepo(mover.did, mover.signingKey, records)
  const seq = dest.pds.ctx.sequencer.currentSeq()
  await importCar(built.car)
  const s = await status()
  assert.is(s.activated, false)
  assert.is(s.indexedRecords, records.length)
  // every block of the repo, the imported commit's place taken by the new commit
  assert.is(s.repoBlocks, built.blocks.size)
  assert.is(s.expectedBlobs, 2)
  assert.is(s.importedBlobs, 0)
  assert.ok(s.repoRev > built.rev, `rev ${s.repoRev} after the imported ${built.rev}`)
  assert.is(dest.pds.ctx.sequencer.currentSeq(), seq, 'nothing announced for a deactivated account')
  assert.is(stagingRows(), 0)
  // the new commit: the imported tree, signed with the key this server holds for the account
  const commit = cborDecode(dest.pds.ctx.repo.storage(mover.did).getBytesSync(s.repoCommit)!) as unknown as Commit
  assert.is(commit.data.toString(), built.data.toString())
  const creds = (await agent.com.atproto.identity.getRecommendedDidCredentials()).data as any
  assert.ok(await verifyCommitSig(commit, creds.verificationMethods.atproto))
  // the records' blob references: listed as missing, each with a record naming it
  const missing = (await agent.com.atproto.repo.listMissingBlobs()).data.blobs
  assert.equal(missing.map((b) => b.cid).sort(), [blobRef(avatar, '').ref.toString(), blobRef(attachment, '').ref.toString()].sort())
  assert.ok(missing.every((b) => b.recordUri.startsWith(`at://${mover.did}/`)))
  // a deactivated account may upload those, and nothing else
  await expectXrpcError(() => agent.com.atproto.repo.uploadBlob(new Uint8Array(randomBytes(100)), { encoding: 'application/octet-stream' }), 400, 'AccountDeactivated')
  const up = await agent.com.atproto.repo.uploadBlob(avatar, { encoding: 'image/png' })
  assert.is((up.data.blob as any).ref.toString(), blobRef(avatar, '').ref.toString())
  assert.equal((await agent.com.atproto.repo.listMissingBlobs()).data.blobs.map((b) => b.cid), [blobRef(attachment, '').ref.toString()])
  assert.is((await status()).importedBlobs, 1)
})

test('refused, nothing stored: a commit signed with another key, a repo of another DID, a rev in the future', async () => {
  const stranger = await Secp256k1Keypair.create()
  await expectRefusedImport((await buildRepo(mover.did, stranger, posts(3, 'forged'))).car, 400, 'InvalidRequest', /signature does not verify/)
  const other = await createOwnDid(plc.url, 'other.test')
  await expectRefusedImport((await buildRepo(other.did, other.signingKey, posts(3, 'theirs'))).car, 400, 'InvalidRequest', /repo is of did:plc:/)
  // signed by the right key, but claiming to be another DID's
  await expectRefusedImport((await buildRepo(other.did, mover.signingKey, posts(3, 'theirs'))).car, 400, 'InvalidRequest', /repo is of did:plc:/)
  const future = TID.fromTime((Date.now() + 3_600_000) * 1000, 0).toString()
  await expectRefusedImport((await buildRepo(mover.did, mover.signingKey, posts(3, 'future'), future)).car, 400, 'InvalidRequest', /in the future/)
})

test('refused, nothing stored: a block whose bytes do not match its CID', async () => {
  const built = await buildRepo(mover.did, mover.signingKey, posts(5, 'tampered'))
  const entries = [...built.blocks]
  // a record's bytes swapped for another value's, under the record's CID
  const recordIndex = entries.findIndex(([, bytes]) => Buffer.from(bytes).includes(Buffer.from('tampered 2')))
  assert.ok(recordIndex >= 0)
  const forged = Buffer.from(entries[recordIndex]![1])
  forged[forged.indexOf('tampered 2')] = 'T'.charCodeAt(0)
  entries[recordIndex] = [entries[recordIndex]![0], forged]
  await expectRefusedImport(await carOf([built.root], entries), 400, 'InvalidRequest', /do not match its CID/)
})

test('refused, nothing stored: malformed CARs', async () => {
  const built = await buildRepo(mover.did, mover.signingKey, posts(5, 'malformed'))
  const entries = [...built.blocks]
  // the header: its length (one varint byte here) and its bytes
  const header = built.car.subarray(0, 1 + built.car[0]!)
  const cases: [string, Uint8Array, RegExp][] = [
    ['random bytes', new Uint8Array(randomBytes(300)), /Invalid CAR/],
    ['truncated', built.car.subarray(0, built.car.length - 20), /truncated/],
    ['an empty body', new Uint8Array(0), /CAR is empty/],
    ['a header that is not CBOR', Buffer.concat([Buffer.from([4]), Buffer.from([0xff, 0xff, 0xff, 0xff])]), /header/],
    ['a CARv2 header', await (async () => { const h = (await cborBlock({ version: 2, roots: [] }))[1]; return Buffer.concat([Buffer.from([h.length]), h]) })(), /CARv1/],
    ['a block section shorter than a CID', Buffer.concat([header, Buffer.from([3, 1, 2, 3])]), /CID/],
    ['a block declared larger than any repo block', Buffer.concat([header, Buffer.from([0x80, 0x80, 0x80, 0x04])]), /limit is/],
    ['no root', await carOf([], entries), /exactly one root/],
    ['two roots', await carOf([built.root, entries[0]![0]], entries), /exactly one root/],
    ['a root that is not in the CAR', await carOf([built.root], entries.filter(([cid]) => !cid.equals(built.root))), /does not hold its root/],
  ]
  for (const [what, car, message] of cases) {
    try {
      await expectRefusedImport(car, 400, 'InvalidRequest', message)
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`)
    }
  }
})

test('refused, nothing stored: a record or an MST node missing from the CAR', async () => {
  const built = await buildRepo(mover.did, mover.signingKey, posts(60, 'missing'))
  const entries = [...built.blocks]
  const isNode = (bytes: Uint8Array) => {
    const v = cborDecode(bytes) as Record<string, unknown>
    return Array.isArray(v.e) && 'l' in v
  }
  const record = entries.findIndex(([, b]) => Buffer.from(b).includes(Buffer.from('missing 7')))
  await expectRefusedImport(await carOf([built.root], entries.filter((_, i) => i !== record)), 400, 'InvalidRequest', /lacks the record/)
  const node = entries.findIndex(([cid, b]) => !cid.equals(built.data) && isNode(b))
  assert.ok(node >= 0, 'the tree has more than one node')
  await expectRefusedImport(await carOf([built.root], entries.filter((_, i) => i !== node)), 400, 'InvalidRequest', /lacks the MST node/)
})

function heightOf(key: string): number {
  const digest = createHash('sha256').update(key).digest()
  let zeros = 0
  for (const byte of digest) {
    if (byte === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(byte) - 24
    break
  }
  return zeros >> 1
}

function keyOfHeight(height: number): string {
  for (;;) {
    const key = `app.bsky.feed.post/${TID.nextStr()}`
    if (heightOf(key) === height) return key
  }
}

test('refused, nothing stored: MST nodes that are not the canonical tree of their keys', async () => {
  const [recordCid, recordBytes] = await cborBlock({ $type: 'app.bsky.feed.post', text: 'x', createdAt: new Date().toISOString() })
  const low = [keyOfHeight(0), keyOfHeight(0)].sort()
  const high = keyOfHeight(1)
  const entry = (key: string, prev: string, t: Cid | null = null) => {
    let p = 0
    while (p < prev.length && p < key.length && prev[p] === key[p]) p++
    return { k: Buffer.from(key.slice(p)), p, t, v: recordCid }
  }
  // a height-1 key in a layer-0 node beside height-0 keys
  const mixedNode = await cborBlock({ e: [low[0]!, low[1]!, high].sort().map((k, i, all) => entry(k, i === 0 ? '' : all[i - 1]!)), l: null })
  await expectRefusedImport(await handmadeRepo(mover.signingKey, mover.did, mixedNode[0], [mixedNode, [recordCid, recordBytes]]), 400, 'InvalidRequest', /wrong layer/)
  // a root with no keys over a subtree
  const leaf = await cborBlock({ e: [entry(low[0]!, '')], l: null })
  const hollow = await cborBlock({ e: [], l: leaf[0] })
  await expectRefusedImport(await handmadeRepo(mover.signingKey, mover.did, hollow[0], [hollow, leaf, [recordCid, recordBytes]]), 400, 'InvalidRequest', /no keys but a subtree/)
  // keys out of order
  const unordered = await cborBlock({ e: [entry(low[1]!, ''), entry(low[0]!, '')], l: null })
  await expectRefusedImport(await handmadeRepo(mover.signingKey, mover.did, unordered[0], [unordered, [recordCid, recordBytes]]), 400, 'InvalidRequest', /out of order|canonically/)
  // prefix compression not used where it could be
  const uncompressed = await cborBlock({ e: [{ k: Buffer.from(low[0]!), p: 0, t: null, v: recordCid }, { k: Buffer.from(low[1]!), p: 0, t: null, v: recordCid }], l: null })
  await expectRefusedImport(await handmadeRepo(mover.signingKey, mover.did, uncompressed[0], [uncompressed, [recordCid, recordBytes]]), 400, 'InvalidRequest', /canonically encoded/)
  // a key that is not collection/rkey
  const badKey = await cborBlock({ e: [{ k: Buffer.from('not-a-record-path'), p: 0, t: null, v: recordCid }], l: null })
  await expectRefusedImport(await handmadeRepo(mover.signingKey, mover.did, badKey[0], [badKey, [recordCid, recordBytes]]), 400, 'InvalidRequest', /Invalid MST key|wrong layer/)
})

test('refused, nothing stored: records the data model refuses', async () => {
  const key = keyOfHeight(0)
  const single = async (record: [Cid, Uint8Array], path = key) => {
    const node = await cborBlock({ e: [{ k: Buffer.from(path), p: 0, t: null, v: record[0] }], l: null })
    return handmadeRepo(mover.signingKey, mover.did, node[0], [node, record])
  }
  // $type missing, or of another collection
  await expectRefusedImport(await single(await cborBlock({ text: 'x', createdAt: new Date().toISOString() })), 400, 'InvalidRequest', /\$type must be app\.bsky\.feed\.post/)
  await expectRefusedImport(await single(await cborBlock({ $type: 'app.bsky.feed.like', text: 'x' })), 400, 'InvalidRequest', /\$type must be/)
  // the data model: a float (hand-written CBOR: {"$type": "com.example.f", "x": 1.5})
  const float = Buffer.concat([Buffer.from([0xa2]), cborText('x'), Buffer.from([0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), cborText('$type'), cborText('com.example.f')])
  await expectRefusedImport(await single(await rawCborBlock(float), `com.example.f/${TID.nextStr()}`), 400, 'InvalidRequest', /floats/)
  // a reserved $ key
  await expectRefusedImport(await single(await cborBlock({ $type: 'com.example.f', $link: 'x' }), `com.example.f/${TID.nextStr()}`), 400, 'InvalidRequest', /reserved/)
  // not canonical DAG-CBOR: the same map with its keys in the wrong order
  const unsorted = Buffer.concat([Buffer.from([0xa2]), cborText('$type'), cborText('com.example.f'), cborText('x'), Buffer.from([0x01])])
  await expectRefusedImport(await single(await rawCborBlock(unsorted), `com.example.f/${TID.nextStr()}`), 400, 'InvalidRequest', /not canonically encoded/)
  // a record that is not a map
  await expectRefusedImport(await single(await cborBlock(['a', 'list']), `com.example.f/${TID.nextStr()}`), 400, 'InvalidRequest', /not an object/)
})

test('records written under older rules are imported as they are: the lexicon is not applied on import', async () => {
  const legacy = [
    // a legacy blob ref ({cid, mimeType}, from before typed blobs) in a profile
    { collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'Old', avatar: { cid: 'bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', mimeType: 'image/png' } } },
    // a datetime without a time zone, which today's formats refuse on write
    { collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a', record: { $type: 'app.bsky.feed.post', text: 'from 2023', createdAt: '2023-01-05T10:00:00.000' } },
  ]
  const built = await buildRepo(mover.did, mover.signingKey, legacy)
  await importCar(built.car)
  const s = await status()
  assert.is(s.indexedRecords, legacy.length)
  // stored as they were: the same CIDs as in the imported CAR
  const rows = dest.pds.ctx.db.sqlite.prepare('SELECT collection, rkey, cid FROM record WHERE did = ? ORDER BY collection').all(mover.did) as { cid: string }[]
  const expected = legacy.map((r) => cidForCborBytes(cborEncode(r.record as never)).toString())
  assert.equal(rows.map((r) => r.cid).sort(), expected.sort())
})

test('refused: a CAR over PDS_MAX_REPO_IMPORT_SIZE, declared, streamed or compressed (413, nothing stored)', async () => {
  const big = await buildRepo(mover.did, mover.signingKey, [
    { collection: 'com.example.big', rkey: 'one', record: { $type: 'com.example.big', data: new Uint8Array(randomBytes(LIMIT)) } },
  ])
  assert.ok(big.car.length > LIMIT)
  // declared: refused before it is read
  await expectRefusedImport(big.car, 413, 'PayloadTooLarge', /larger than 200000 bytes/)
  const post = async (body: RequestInit['body'], headers: Record<string, string>) => {
    const before = await snapshot(mover.did)
    const res = await fetch(`${dest.url}/xrpc/com.atproto.repo.importRepo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.session!.accessJwt}`, 'content-type': CAR, ...headers },
      body,
      duplex: 'half',
    } as RequestInit)
    assert.is(res.status, 413)
    assert.is(((await res.json()) as any).error, 'PayloadTooLarge')
    assert.equal(await snapshot(mover.did), before)
    assert.is(stagingRows(), 0)
  }
  // streamed with no length: refused when the limit is passed
  const chunks = [big.car.subarray(0, 50_000), big.car.subarray(50_000, 150_000), big.car.subarray(150_000)]
  await post(new ReadableStream({ pull: (c) => { const next = chunks.shift(); if (next) c.enqueue(next); else c.close() } }), {})
  // compressed: small on the wire, over the limit once decoded
  const zipped = gzipSync(Buffer.concat([big.car.subarray(0, 100), Buffer.alloc(LIMIT)]))
  assert.ok(zipped.length < LIMIT)
  await post(zipped, { 'content-encoding': 'gzip' })
})

test('refused: the wrong content type, an app password, no session', async () => {
  const car = (await buildRepo(mover.did, mover.signingKey, posts(2, 'auth'))).car
  const res = await fetch(`${dest.url}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.session!.accessJwt}`, 'content-type': 'application/octet-stream' },
    body: car,
  })
  assert.is(res.status, 400)
  const body = (await res.json()) as any
  assert.is(body.error, 'InvalidRequest')
  assert.match(body.message, /Wrong request encoding/)
  const app = await agent.com.atproto.server.createAppPassword({ name: 'importer', privileged: true })
  const appAgent = dest.agent()
  await appAgent.login({ identifier: mover.did, password: app.data.password })
  await expectXrpcError(() => importCar(car, appAgent), 400, 'InvalidToken')
  const anonymous = await fetch(`${dest.url}/xrpc/com.atproto.repo.importRepo`, { method: 'POST', headers: { 'content-type': CAR }, body: car })
  assert.is(anonymous.status, 401)
})

test('a second import replaces the first: its records, its blob references; revs keep increasing', async () => {
  const own = await createOwnDid(plc.url, 'twice.test')
  const a = await arrive(own, 'twice.test')
  const first = await buildRepo(own.did, own.signingKey, [
    ...posts(10, 'first'),
    { collection: 'com.example.import.file', rkey: 'f', record: { $type: 'com.example.import.file', file: blobRef(attachment, 'application/octet-stream') } },
  ])
  await importCar(first.car, a)
  const afterFirst = await status(a)
  assert.is(afterFirst.indexedRecords, 11)
  const secondRecords = [
    ...posts(4, 'second'),
    { collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', avatar: blobRef(avatar, 'image/png') } },
  ]
  // built before the first was imported: its rev is older than the repo's, the new commit still comes after
  const second = await buildRepo(own.did, own.signingKey, secondRecords, TID.nextStr(first.rev))
  await importCar(second.car, a)
  const afterSecond = await status(a)
  assert.is(afterSecond.indexedRecords, 5)
  assert.ok(afterSecond.repoRev > afterFirst.repoRev)
  assert.is(afterSecond.repoBlocks, second.blocks.size)
  const rows = dest.pds.ctx.db.sqlite.prepare('SELECT collection, rkey FROM record WHERE did = ?').all(own.did) as { collection: string; rkey: string }[]
  assert.equal(rows.map((r) => `${r.collection}/${r.rkey}`).sort(), secondRecords.map((r) => `${r.collection}/${r.rkey}`).sort())
  assert.equal((await a.com.atproto.repo.listMissingBlobs()).data.blobs.map((b) => b.cid), [blobRef(avatar, '').ref.toString()])
  // no block of the first import is left
  const blockCount = (dest.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM repo_block WHERE did = ?').get(own.did) as { n: number }).n
  assert.is(blockCount, second.blocks.size)
})

test('an active account restores its own export: the repo goes back to it, a #sync announces the new commit', async () => {
  const created = dest.agent()
  const res = await created.createAccount({ handle: 'restorer.test', email: 'restorer@mail.test', password: PASSWORD })
  const did = res.data.did
  const write = (text: string) =>
    created.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: { text, createdAt: new Date().toISOString() } })
  for (let i = 0; i < 3; i++) await write(`kept ${i}`)
  // private state no repo holds stays through an import
  withCarrelLexicons(created)
  await created.call('app.carrel.sync.putSettings', {}, { version: 0, settings: { theme: 'dark' } })
  const exported = await getRepoCar(dest.url, did)
  for (let i = 0; i < 2; i++) await write(`dropped ${i}`)
  const sub = await RawSubscriber.connect(dest.url, 0)
  try {
    const seq = dest.pds.ctx.sequencer.currentSeq()
    await importCar(exported, created)
    const listed = await created.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
    assert.equal(listed.data.records.map((r) => (r.value as any).text).sort(), ['kept 0', 'kept 1', 'kept 2'])
    assert.equal((await created.call('app.carrel.sync.getSettings')).data, { version: 1, settings: { theme: 'dark' } })
    const after = await write('after the restore')
    await sub.waitFor((fs) => fs.some((f) => f.body.seq > seq && f.header.t === '#commit' && f.body.repo === did), 10_000, 'the next commit')
    const mine = sub.events().filter((f) => f.body.seq > seq && (f.body.did ?? f.body.repo) === did)
    assert.equal(mine.map((f) => f.header.t), ['#sync', '#commit'])
    assert.is(mine[1]!.body.since, mine[0]!.body.rev)
    assert.is(mine[1]!.body.ops[0].path, `app.bsky.feed.post/${after.data.uri.split('/').pop()}`)
    // every event of the stream, as a strict relay checks them (the #sync's signature included)
    const checker = new StreamChecker(plc.url)
    for (const f of sub.events()) await checker.check(f)
    // and a refused import of an active account changes nothing either (getRepo's bytes)
    const before = await getRepoCar(dest.url, did)
    await expectRefusedImport((await buildRepo(did, await Secp256k1Keypair.create(), posts(2, 'x'))).car, 400, 'InvalidRequest', /signature/, did, created)
    assert.ok(Buffer.from(await getRepoCar(dest.url, did)).equals(Buffer.from(before)))
  } finally {
    await sub.close()
  }
})

test('commit hooks see an import: deleteRepoInTx, then every record as a create, in batches, inside the one transaction', async () => {
  const own = await createOwnDid(plc.url, 'hooked.test')
  const a = await arrive(own, 'hooked.test')
  const records = [
    ...posts(600, 'hooked'),
    { collection: 'com.example.import.file', rkey: 'f', record: { $type: 'com.example.import.file', file: blobRef(attachment, 'application/octet-stream') } },
  ]
  const built = await buildRepo(own.did, own.signingKey, records)
  const seen: string[] = []
  const ops: RecordOp[] = []
  const hook: CommitHook = {
    deleteRepoInTx: (did) => {
      if (did === own.did) seen.push(`deleteRepoInTx ${dest.pds.ctx.db.sqlite.inTransaction}`)
    },
    inTx: (commit) => {
      if (commit.did !== own.did) return
      seen.push(`inTx ${dest.pds.ctx.db.sqlite.inTransaction} ${commit.imported}`)
      // a copy, as a hook may make one: the lazily read fields come along
      for (const op of commit.ops) ops.push({ ...op })
    },
  }
  dest.pds.ctx.repo.hooks.push(hook)
  try {
    await importCar(built.car, a)
  } finally {
    dest.pds.ctx.repo.hooks.splice(dest.pds.ctx.repo.hooks.indexOf(hook), 1)
  }
  assert.is(seen[0], 'deleteRepoInTx true')
  assert.ok(seen.length >= 4, `the records come in batches (${seen.length - 1})`)
  assert.ok(seen.slice(1).every((s) => s === 'inTx true true'), seen.join(', '))
  assert.equal(ops.map((op) => op.path), records.map((r) => `${r.collection}/${r.rkey}`).sort())
  for (const op of ops) {
    const spec = records.find((r) => `${r.collection}/${r.rkey}` === op.path)!
    const [cid, bytes] = await cborBlock(spec.record)
    assert.is(op.action, 'create')
    assert.is(op.prev, null)
    assert.is(op.uri, `at://${own.did}/${op.path}`)
    assert.is(op.cid!.toString(), cid.toString())
    assert.ok(Buffer.from(op.bytes!).equals(Buffer.from(bytes)))
    assert.ok(Buffer.from(cborEncode(op.record as never)).equals(Buffer.from(bytes)), `${op.path}: the record's value`)
    assert.equal(op.blobs.map((b) => b.cid.toString()), op.path.startsWith('com.example') ? [blobRef(attachment, '').ref.toString()] : [])
  }
})

test('a commit hook that throws during an import refuses it: nothing stored', async () => {
  const own = await createOwnDid(plc.url, 'hookfail.test')
  const a = await arrive(own, 'hookfail.test')
  const hook: CommitHook = {
    inTx: (commit) => {
      if (commit.did === own.did) throw new Error('index full')
    },
  }
  dest.pds.ctx.repo.hooks.push(hook)
  try {
    await expectRefusedImport((await buildRepo(own.did, own.signingKey, posts(5, 'hookfail'))).car, 500, 'InternalServerError', /Internal Server Error/, own.did, a)
  } finally {
    dest.pds.ctx.repo.hooks.splice(dest.pds.ctx.repo.hooks.indexOf(hook), 1)
  }
})

test('one import per account at a time; a taken-down account imports nothing', async () => {
  const own = await createOwnDid(plc.url, 'busy.test')
  const a = await arrive(own, 'busy.test')
  const car = (await buildRepo(own.did, own.signingKey, posts(5, 'busy'))).car
  // the first import's body arrives slowly: its header, then the rest when we say so
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let sent = 0
  const slow = new ReadableStream({
    async pull(c) {
      if (sent === 0) {
        c.enqueue(car.subarray(0, 40))
        sent = 1
        return
      }
      await released
      c.enqueue(car.subarray(40))
      c.close()
    },
  })
  const first = fetch(`${dest.url}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.session!.accessJwt}`, 'content-type': CAR },
    body: slow,
    duplex: 'half',
  } as RequestInit)
  // wait until the server has taken it up (its body is still coming)
  while (!dest.pds.ctx.repoImports.importing(own.did)) await new Promise((r) => setTimeout(r, 5))
  const err = await expectXrpcError(() => importCar(car, a), 400, 'InvalidRequest')
  assert.match(err.message, /already running/)
  release()
  assert.is((await first).status, 200)
  assert.is((await status(a)).indexedRecords, 5)

  dest.pds.ctx.accounts.setTakedown(own.did, 'test')
  try {
    const before = dest.pds.ctx.repo.roots.get(own.did)
    await expectXrpcError(() => importCar(car, a), 401, 'AccountTakedown')
    assert.equal(dest.pds.ctx.repo.roots.get(own.did), before)
  } finally {
    dest.pds.ctx.accounts.setTakedown(own.did, null)
  }
})

test.run()
