// Takedowns through com.atproto.admin.updateSubjectStatus / getSubjectStatus with @atproto/api and
// admin Basic auth, against a real server, PLC directory and firehose subscriber: an account taken
// down is not served (repo, records, blobs, derived views), cannot log in or write, is announced
// as takendown, keeps its data, and comes back whole (the same getRepo bytes) when the takedown is
// lifted, announced as an activation is; a record or blob taken down is hidden from every read
// that serves it and comes back when lifted; a neighbour is never touched; every refusal changes
// nothing and announces nothing.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { readCarWithRoot } from '@atproto/repo'
import { ADMIN_AUTH, adminAgent } from './_admin.ts'
import { ofDid, RawSubscriber, StreamChecker } from './_firehose.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { addBook, BOOK } from './_library.ts'
import { assertRefused, assertServed, ownerWrites, publicReads, seedRepo, type Seeded } from './_lifecycle.ts'
import { assertBytes, expectError, expectXrpcError, getRepoCar, outboxFile, outboxToken, type RawResponse, rawXrpc } from './_util.ts'

let net: TestNetwork
let admin: AtpAgent
let alice: TestAccount
let bob: TestAccount
let aliceSeed: Seeded
let bobSeed: Seeded

const REPO_REF = 'com.atproto.admin.defs#repoRef'
const STRONG_REF = 'com.atproto.repo.strongRef'
const BLOB_REF = 'com.atproto.admin.defs#repoBlobRef'

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const get = (nsid: string, params: Record<string, string>) => call(nsid, { params })

const seqNow = () => net.pds.ctx.sequencer.currentSeq()

/** The events of `did` after seq `after`, as stored (type and decoded body), oldest first. */
function eventsAfter(after: number): { type: string; did: string }[] {
  return net.pds.ctx.db.sqlite.prepare('SELECT event_type AS type, did FROM repo_seq WHERE seq > ? ORDER BY seq').all(after) as any
}

function rowCounts(did: string): Record<string, number> {
  const count = (table: string) => (net.pds.ctx.db.sqlite.prepare(`SELECT count(*) AS n FROM ${table} WHERE did = ?`).get(did) as { n: number }).n
  return { repo_block: count('repo_block'), record: count('record'), blob: count('blob'), repo_root: count('repo_root') }
}

const takedown = (subject: Record<string, unknown>, applied: boolean, ref?: string) =>
  admin.com.atproto.admin.updateSubjectStatus({ subject: subject as any, takedown: { applied, ...(ref ? { ref } : {}) } })

const postRkey = (seed: Seeded, i: number) => seed.rkeys[i]!
const postUri = (did: string, rkey: string) => `at://${did}/app.bsky.feed.post/${rkey}`

async function blobBytes(did: string, cid: string): Promise<RawResponse & { bytes?: Uint8Array }> {
  const url = new URL('/xrpc/com.atproto.sync.getBlob', net.url)
  url.searchParams.set('did', did)
  url.searchParams.set('cid', cid)
  const res = await fetch(url)
  if (res.status === 200) return { status: 200, body: undefined, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) }
  return { status: res.status, body: await res.json(), headers: res.headers }
}

test.before(async () => {
  net = await startNetwork()
  admin = adminAgent(net.url)
  alice = await net.createAccount('alice')
  bob = await net.createAccount('bob')
  aliceSeed = await seedRepo(alice.agent, alice.did, 'alice')
  bobSeed = await seedRepo(bob.agent, bob.did, 'bob')
})

test.after(async () => {
  await net?.close()
})

test('an account taken down: #account takendown, nothing served, no login, no writes, sessions and tokens end, data kept', async () => {
  const before = await publicReads(net.url, alice, aliceSeed)
  assertServed(before, 'before')
  const carBefore = await getRepoCar(net.url, alice.did)
  const rowsBefore = rowCounts(alice.did)
  const refreshJwt = alice.agent.session!.refreshJwt
  const accessJwt = alice.agent.session!.accessJwt
  // a pending token of the account holder (in the outbox while there is no mail)
  await alice.agent.com.atproto.server.requestAccountDelete()
  const outboxMessage = outboxFile(net.dataDir, 'account-delete', alice.did)
  assert.ok(existsSync(outboxMessage))
  // and the administrator's own message to the holder (about the takedown, say)
  await admin.com.atproto.admin.sendEmail({ recipientDid: alice.did, senderDid: alice.did, content: 'Your account is under review.', subject: 'Review' })
  const adminMessage = outboxFile(net.dataDir, 'admin-message', alice.did)
  assert.ok(existsSync(adminMessage))

  const sub = await RawSubscriber.fromNow(net)
  const res = await takedown({ $type: REPO_REF, did: alice.did }, true, 'case-17')
  assert.equal(res.data, { subject: { $type: REPO_REF, did: alice.did }, takedown: { applied: true, ref: 'case-17' } })
  const frames = await sub.waitFor((fs) => fs.some((f) => f.header.t === '#account'), 10_000, '#account')
  await sub.close()
  const mine = frames.filter(ofDid(alice.did))
  assert.equal(
    mine.map((f) => ({ ...f.body, seq: 0, time: '' })),
    [{ seq: 0, time: '', did: alice.did, active: false, status: 'takendown' }],
  )

  const after = await publicReads(net.url, alice, aliceSeed)
  assertRefused(after, 'RepoTakendown')
  for (const nsid of ['app.carrel.sync.getChanges', 'app.carrel.library.searchBooks']) {
    expectError(await get(nsid, { repo: alice.did }), 400, 'RepoTakendown')
  }
  assert.equal((await admin.com.atproto.sync.getRepoStatus({ did: alice.did })).data, { did: alice.did, active: false, status: 'takendown' })
  const listed = (await admin.com.atproto.sync.listRepos({})).data.repos.find((r) => r.did === alice.did)!
  assert.equal([listed.active, listed.status], [false, 'takendown'])

  // no login (app passwords neither), no refresh, no writes with the access token still in hand
  expectError(await call('com.atproto.server.createSession', { body: { identifier: alice.handle, password: alice.password } }), 401, 'AccountTakedown')
  expectError(await call('com.atproto.server.refreshSession', { token: refreshJwt, method: 'POST' }), 400, 'ExpiredToken')
  const writes = await ownerWrites(net.url, accessJwt, alice.did, postRkey(aliceSeed, 1))
  for (const [name, r] of Object.entries(writes)) {
    assert.is(r.body.error, 'AccountTakedown', `${name}: ${JSON.stringify(r.body)}`)
    assert.is(r.status, 401, name)
  }
  expectError(await call('com.atproto.server.activateAccount', { token: accessJwt, method: 'POST' }), 401, 'AccountTakedown')
  // the pending deletion token is gone with the sessions
  assert.not.ok(existsSync(outboxMessage), 'outbox message removed')
  assert.ok(existsSync(adminMessage), "the administrator's message stays for the operator to pass on")
  assert.is((net.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account_token WHERE did = ?').get(alice.did) as { n: number }).n, 0)
  assert.is((net.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM refresh_token WHERE did = ?').get(alice.did) as { n: number }).n, 0)

  // kept until deletion: every row and the blob file
  assert.equal(rowCounts(alice.did), rowsBefore)
  assert.is(net.pds.ctx.repo.roots.get(alice.did)!.cid, (await readCarWithRoot(carBefore)).root.toString())

  const status = await admin.com.atproto.admin.getSubjectStatus({ did: alice.did })
  assert.equal(status.data, {
    subject: { $type: REPO_REF, did: alice.did },
    takedown: { applied: true, ref: 'case-17' },
    deactivated: { applied: false },
  })
  // the neighbour is served as before
  const bobReads = await publicReads(net.url, bob, bobSeed)
  assertServed(bobReads, 'bob')
})

test('a repo that is not served: its own account (the takendown session too) and the admin still export it, nobody else; the narrow session signs a move away', async () => {
  const gwen = await net.createAccount('gwen')
  const seed = await seedRepo(gwen.agent, gwen.did, 'gwen')
  const carBefore = await getRepoCar(net.url, gwen.did)
  const blobBefore = await blobBytes(gwen.did, seed.blobCid)
  await takedown({ $type: REPO_REF, did: gwen.did }, true)
  const session = await call('com.atproto.server.createSession', { body: { identifier: gwen.handle, password: gwen.password, allowTakendown: true } })
  assert.is(session.status, 200)
  const token = session.body.accessJwt as string
  const exports = (auth: { token?: string; authorization?: string }) => ({
    repo: call('com.atproto.sync.getRepo', { params: { did: gwen.did }, ...auth }),
    blobs: call('com.atproto.sync.listBlobs', { params: { did: gwen.did }, ...auth }),
    blob: call('com.atproto.sync.getBlob', { params: { did: gwen.did, cid: seed.blobCid }, ...auth }),
  })
  // nobody else: no credentials, another account's session
  for (const auth of [{}, { token: bob.agent.session!.accessJwt }]) {
    const e = exports(auth)
    for (const r of [await e.repo, await e.blobs, await e.blob]) expectError(r, 400, 'RepoTakendown')
  }
  // the account itself with its narrow session, and the admin: the same bytes as before
  for (const auth of [{ token }, { authorization: ADMIN_AUTH }]) {
    const repo = await fetch(`${net.url}/xrpc/com.atproto.sync.getRepo?did=${gwen.did}`, {
      headers: { authorization: auth.token ? `Bearer ${auth.token}` : auth.authorization! },
    })
    assert.is(repo.status, 200)
    assertBytes(new Uint8Array(await repo.arrayBuffer()), carBefore, 'the export')
    const blobs = await exports(auth).blobs
    assert.is(blobs.status, 200)
    assert.ok((blobs.body.cids as string[]).includes(seed.blobCid))
    const blob = await fetch(`${net.url}/xrpc/com.atproto.sync.getBlob?did=${gwen.did}&cid=${seed.blobCid}`, {
      headers: { authorization: auth.token ? `Bearer ${auth.token}` : auth.authorization! },
    })
    assert.is(blob.status, 200)
    assertBytes(new Uint8Array(await blob.arrayBuffer()), blobBefore.bytes!, 'the blob')
  }
  // a token that does not verify is refused rather than read as no credentials
  expectError(await call('com.atproto.sync.getRepo', { params: { did: gwen.did }, token: `${token}x` }), 400, 'InvalidToken')
  // and the narrow session may sign the PLC operation that moves the account away
  assert.is((await call('com.atproto.identity.requestPlcOperationSignature', { token, method: 'POST' })).status, 200)
  const plcToken = outboxToken(net.dataDir, 'plc-operation', gwen.did)
  const signed = await call('com.atproto.identity.signPlcOperation', { token, body: { token: plcToken } })
  assert.is(signed.status, 200, JSON.stringify(signed.body))
  assert.type(signed.body.operation.sig, 'string')
  await takedown({ $type: REPO_REF, did: gwen.did }, false)
})

test('lifting an account takedown: #identity, #account {active:true}, #sync; everything served again, the same getRepo bytes', async () => {
  const before = seqNow()
  const current = net.pds.ctx.repo.roots.get(alice.did)!
  const sub = await RawSubscriber.fromNow(net)
  const checker = new StreamChecker(net.plc.url)
  const res = await takedown({ $type: REPO_REF, did: alice.did }, false)
  assert.equal(res.data, { subject: { $type: REPO_REF, did: alice.did }, takedown: { applied: false } })
  const frames = await sub.waitFor((fs) => fs.filter(ofDid(alice.did)).length >= 3, 10_000, 'lift events')
  await sub.close()
  const mine = frames.filter(ofDid(alice.did))
  assert.equal(
    mine.map((f) => f.header.t),
    ['#identity', '#account', '#sync'],
  )
  for (const f of mine) await checker.check(f)
  assert.is(mine[0]!.body.handle, alice.handle)
  assert.equal({ ...mine[1]!.body, seq: 0, time: '' }, { seq: 0, time: '', did: alice.did, active: true })
  assert.is(mine[2]!.body.rev, current.rev)
  assert.is((await readCarWithRoot(mine[2]!.body.blocks)).root.toString(), current.cid)

  const reads = await publicReads(net.url, alice, aliceSeed)
  assertServed(reads)
  // nothing was lost or changed while it was taken down: the export is the same, byte for byte
  const car = await getRepoCar(net.url, alice.did)
  assertBytes(car, await getRepoCar(net.url, alice.did), 'export is stable')
  assert.is((await readCarWithRoot(car)).root.toString(), current.cid)
  await alice.agent.login({ identifier: alice.handle, password: alice.password })
  await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'served again', createdAt: new Date().toISOString() },
  })
  assert.is((await admin.com.atproto.admin.getSubjectStatus({ did: alice.did })).data.takedown?.applied, false)

  // lifting a takedown that is not there changes nothing and announces nothing
  const quiet = seqNow()
  await takedown({ $type: REPO_REF, did: alice.did }, false)
  assert.is(seqNow(), quiet)
  assert.ok(quiet > before)
})

test('getRepo bytes before a takedown and after it is lifted are the same', async () => {
  const carBefore = await getRepoCar(net.url, bob.did)
  await takedown({ $type: REPO_REF, did: bob.did }, true)
  expectError(await get('com.atproto.sync.getRepo', { did: bob.did }), 400, 'RepoTakendown')
  // the ref defaults to the time of the action, as the reference's
  const ref = (await admin.com.atproto.admin.getSubjectStatus({ did: bob.did })).data.takedown?.ref
  assert.ok(ref && !Number.isNaN(Date.parse(ref)), String(ref))
  await takedown({ $type: REPO_REF, did: bob.did }, false)
  assertBytes(await getRepoCar(net.url, bob.did), carBefore, 'getRepo after the takedown is lifted')
  await bob.agent.login({ identifier: bob.handle, password: bob.password })
})

test('a deactivated account taken down and lifted stays deactivated: only #account deactivated is announced', async () => {
  const carol = await net.createAccount('carol')
  await carol.agent.com.atproto.server.deactivateAccount({})
  await takedown({ $type: REPO_REF, did: carol.did }, true)
  expectError(await get('com.atproto.sync.getLatestCommit', { did: carol.did }), 400, 'RepoTakendown')
  const status = await admin.com.atproto.admin.getSubjectStatus({ did: carol.did })
  assert.equal([status.data.takedown?.applied, status.data.deactivated?.applied], [true, true])
  const sub = await RawSubscriber.fromNow(net)
  await takedown({ $type: REPO_REF, did: carol.did }, false)
  const frames = await sub.waitFor((fs) => fs.some(ofDid(carol.did)), 10_000, '#account')
  await sub.close()
  const mine = frames.filter(ofDid(carol.did))
  assert.equal(
    mine.map((f) => ({ t: f.header.t, ...f.body, seq: 0, time: '' })),
    [{ t: '#account', seq: 0, time: '', did: carol.did, active: false, status: 'deactivated' }],
  )
  expectError(await get('com.atproto.sync.getLatestCommit', { did: carol.did }), 400, 'RepoDeactivated')
})

test('updateSubjectStatus deactivated: the admin deactivates and activates an account as its owner would', async () => {
  const dave = await net.createAccount('dave')
  const sub = await RawSubscriber.fromNow(net)
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: REPO_REF, did: dave.did }, deactivated: { applied: true } })
  expectError(await get('com.atproto.sync.getLatestCommit', { did: dave.did }), 400, 'RepoDeactivated')
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: REPO_REF, did: dave.did }, deactivated: { applied: false } })
  const frames = await sub.waitFor((fs) => fs.filter(ofDid(dave.did)).length >= 4, 10_000, 'events')
  await sub.close()
  assert.equal(
    frames.filter(ofDid(dave.did)).map((f) => [f.header.t, f.body.active]),
    [
      ['#account', false],
      ['#identity', undefined],
      ['#account', true],
      ['#sync', undefined],
    ],
  )
  assert.is((await get('com.atproto.sync.getLatestCommit', { did: dave.did })).status, 200)
  // neither attribute: the account's status is announced again, as the reference does
  const sub2 = await RawSubscriber.fromNow(net)
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: REPO_REF, did: dave.did } })
  const again = await sub2.waitFor((fs) => fs.filter(ofDid(dave.did)).length >= 3, 10_000, 'announcement')
  await sub2.close()
  assert.equal(
    again.filter(ofDid(dave.did)).map((f) => f.header.t),
    ['#identity', '#account', '#sync'],
  )
})

test('deactivated on a taken-down account: the flag changes, nothing is announced, lifting the takedown gives the account as set', async () => {
  const frank = await net.createAccount('frank')
  const subject = { $type: REPO_REF, did: frank.did }
  // taken down and deactivated in one call, then deactivated again while taken down
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true }, deactivated: { applied: true } })
  const quiet = seqNow()
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true, ref: 'again' }, deactivated: { applied: true } })
  const status = (await admin.com.atproto.admin.getSubjectStatus({ did: frank.did })).data
  assert.equal([status.takedown, status.deactivated], [{ applied: true, ref: 'again' }, { applied: true }])
  // activation while taken down: only the flag, no event (the takedown's #account again is the only one)
  await admin.com.atproto.admin.updateSubjectStatus({ subject, deactivated: { applied: false } })
  assert.equal(
    eventsAfter(quiet).map((e) => e.type),
    ['#account'],
  )
  assert.equal((await admin.com.atproto.admin.getSubjectStatus({ did: frank.did })).data.deactivated, { applied: false })
  expectError(await get('com.atproto.sync.getLatestCommit', { did: frank.did }), 400, 'RepoTakendown')
  // deactivated again while taken down, then the takedown lifted: deactivated, as set
  await admin.com.atproto.admin.updateSubjectStatus({ subject, deactivated: { applied: true } })
  await takedown(subject, false)
  expectError(await get('com.atproto.sync.getLatestCommit', { did: frank.did }), 400, 'RepoDeactivated')
  // and the admin activates it as its owner would: served again
  await admin.com.atproto.admin.updateSubjectStatus({ subject, deactivated: { applied: false } })
  assert.is((await get('com.atproto.sync.getLatestCommit', { did: frank.did })).status, 200)
})

test('takedown and deactivation in one call: one event each way, never active in between', async () => {
  const gina = await net.createAccount('gina')
  const subject = { $type: REPO_REF, did: gina.did }
  const statusOf = async () => {
    const { takedown, deactivated } = (await admin.com.atproto.admin.getSubjectStatus({ did: gina.did })).data
    return [takedown?.applied, deactivated?.applied]
  }
  // taken down and deactivated together: only #account takendown
  let before = seqNow()
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true }, deactivated: { applied: true } })
  assert.equal(eventsAfter(before).map((e) => e.type), ['#account'])
  assert.equal(await statusOf(), [true, true])
  // lifted and deactivated together: only #account deactivated, never #account active first
  await admin.com.atproto.admin.updateSubjectStatus({ subject, deactivated: { applied: false } })
  before = seqNow()
  const sub = await RawSubscriber.fromNow(net)
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: false }, deactivated: { applied: true } })
  const frames = await sub.waitFor((fs) => fs.some(ofDid(gina.did)), 10_000, '#account')
  await sub.close()
  assert.equal(eventsAfter(before).map((e) => e.type), ['#account'])
  assert.equal(
    frames.filter(ofDid(gina.did)).map((f) => [f.header.t, f.body.active, f.body.status]),
    [['#account', false, 'deactivated']],
  )
  assert.equal(await statusOf(), [false, true])
  expectError(await get('com.atproto.sync.getLatestCommit', { did: gina.did }), 400, 'RepoDeactivated')
  // lifted and activated together on a taken-down, deactivated account: served again, active announced last
  await takedown(subject, true)
  before = seqNow()
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: false }, deactivated: { applied: false } })
  const events = eventsAfter(before).map((e) => e.type)
  assert.equal(events.slice(-3), ['#identity', '#account', '#sync'])
  assert.equal(await statusOf(), [false, false])
  assert.is((await get('com.atproto.sync.getLatestCommit', { did: gina.did })).status, 200)
})

test('a record taken down: getRecord, listRecords and sync.getRecord do not serve it; getRepo keeps it; lifting restores it', async () => {
  const rkey = postRkey(aliceSeed, 0)
  const uri = postUri(alice.did, rkey)
  const record = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  const cid = record.data.cid!
  const carBefore = await getRepoCar(net.url, alice.did)
  const listBefore = (await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post' })).data.records
  const eventsBefore = seqNow()

  const res = await takedown({ $type: STRONG_REF, uri, cid }, true, 'dmca-1')
  assert.equal(res.data, { subject: { $type: STRONG_REF, uri, cid }, takedown: { applied: true, ref: 'dmca-1' } })
  assert.is(seqNow(), eventsBefore, 'a record takedown sends no event')

  for (const repo of [alice.did, alice.handle]) {
    expectError(await get('com.atproto.repo.getRecord', { repo, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  }
  expectError(await get('com.atproto.sync.getRecord', { did: alice.did, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  const list = (await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post' })).data.records
  assert.equal(
    list.map((r) => r.uri),
    listBefore.map((r) => r.uri).filter((u) => u !== uri),
  )
  // paging one record at a time walks past it
  const paged: string[] = []
  let cursor: string | undefined
  do {
    const page = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post', limit: 1, cursor })
    paged.push(...page.data.records.map((r) => r.uri))
    cursor = page.data.cursor
  } while (cursor)
  assert.equal(paged, list.map((r) => r.uri))
  // the other records, and the export (the signed tree holds it), are as they were
  const other = postRkey(aliceSeed, 1)
  assert.is((await get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey: other })).status, 200)
  assert.is((await get('com.atproto.sync.getRecord', { did: alice.did, collection: 'app.bsky.feed.post', rkey: other })).status, 200)
  assertBytes(await getRepoCar(net.url, alice.did), carBefore, 'getRepo keeps the record')
  const status = await admin.com.atproto.admin.getSubjectStatus({ uri })
  assert.equal(status.data, { subject: { $type: STRONG_REF, uri, cid }, takedown: { applied: true, ref: 'dmca-1' } })

  await takedown({ $type: STRONG_REF, uri, cid }, false)
  const back = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  assert.equal(back.data, record.data)
  assert.is((await get('com.atproto.sync.getRecord', { did: alice.did, collection: 'app.bsky.feed.post', rkey })).status, 200)
  assert.equal(
    (await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post' })).data.records.map((r) => r.uri),
    listBefore.map((r) => r.uri),
  )
  assert.equal((await admin.com.atproto.admin.getSubjectStatus({ uri })).data.takedown, { applied: false })
})

test('a record taken down stays hidden when its owner updates it, or deletes it and writes it again', async () => {
  const rkey = postRkey(aliceSeed, 2)
  const uri = postUri(alice.did, rkey)
  const cid = (await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })).data.cid!
  await takedown({ $type: STRONG_REF, uri, cid }, true)
  const post = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
  const updated = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey, record: post('edited') })
  expectError(await get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  // getSubjectStatus names the record as it is now
  assert.is(((await admin.com.atproto.admin.getSubjectStatus({ uri })).data.subject as { cid: string }).cid, updated.data.cid)
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  // gone: the status names the version taken down
  assert.is(((await admin.com.atproto.admin.getSubjectStatus({ uri })).data.subject as { cid: string }).cid, cid)
  await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey, record: post('again') })
  expectError(await get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  expectError(await get('com.atproto.sync.getRecord', { did: alice.did, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  await takedown({ $type: STRONG_REF, uri, cid }, false)
  const back = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  assert.is((back.data.value as any).text, 'again')
})

test('a book taken down is not served by the derived views either (searchBooks, getChanges)', async () => {
  const since = net.pds.ctx.repo.roots.get(alice.did)!.rev
  const book = await addBook(alice.agent, alice.did, { title: 'Forbidden Manuscript' })
  await addBook(alice.agent, alice.did, { title: 'Permitted Manuscript' })
  const search = async () => (await get('app.carrel.library.searchBooks', { repo: alice.did, q: 'manuscript' })).body.books.map((b: any) => b.value.title).sort()
  const changes = async () => (await get('app.carrel.sync.getChanges', { repo: alice.did, since })).body.changes.map((c: any) => c.record?.title).sort()
  assert.equal(await search(), ['Forbidden Manuscript', 'Permitted Manuscript'])
  assert.equal(await changes(), ['Forbidden Manuscript', 'Permitted Manuscript'])
  await takedown({ $type: STRONG_REF, uri: book.uri, cid: book.cid }, true)
  assert.equal(await search(), ['Permitted Manuscript'])
  assert.equal(await changes(), ['Permitted Manuscript'])
  expectError(await get('com.atproto.repo.getRecord', { repo: alice.did, collection: BOOK, rkey: book.rkey }), 400, 'RecordNotFound')
  await takedown({ $type: STRONG_REF, uri: book.uri, cid: book.cid }, false)
  assert.equal(await search(), ['Forbidden Manuscript', 'Permitted Manuscript'])
})

test('a blob taken down is not served by getBlob (the same bytes of another account are); lifting restores it', async () => {
  const cid = aliceSeed.blobCid
  const original = await blobBytes(alice.did, cid)
  assert.is(original.status, 200)
  // bob uploads the very same bytes
  const bobUpload = await bob.agent.com.atproto.repo.uploadBlob(original.bytes!, { encoding: 'application/octet-stream' })
  assert.is(bobUpload.data.blob.ref.toString(), cid)
  await bob.agent.com.atproto.repo.createRecord({
    repo: bob.did,
    collection: 'com.example.lifecycle.attachment',
    record: { $type: 'com.example.lifecycle.attachment', file: bobUpload.data.blob },
  })

  const res = await takedown({ $type: BLOB_REF, did: alice.did, cid }, true, 'blob-9')
  assert.equal(res.data, { subject: { $type: BLOB_REF, did: alice.did, cid }, takedown: { applied: true, ref: 'blob-9' } })
  const hidden = await blobBytes(alice.did, cid)
  expectError(hidden, 400, 'BlobNotFound')
  assertBytes((await blobBytes(bob.did, cid)).bytes, original.bytes!, "bob's copy")
  // the record that references it, and the blob's file, are kept
  const attachment = aliceSeed.recordUris[3]!.split('/')
  assert.is((await get('com.atproto.repo.getRecord', { repo: alice.did, collection: attachment[3]!, rkey: attachment[4]! })).status, 200)
  assert.ok(net.pds.ctx.blobs.table.get(alice.did, cid))
  const status = await admin.com.atproto.admin.getSubjectStatus({ did: alice.did, blob: cid })
  assert.equal(status.data, { subject: { $type: BLOB_REF, did: alice.did, cid }, takedown: { applied: true, ref: 'blob-9' } })

  await takedown({ $type: BLOB_REF, did: alice.did, cid }, false)
  assertBytes((await blobBytes(alice.did, cid)).bytes, original.bytes!, 'getBlob after the takedown is lifted')
  assert.equal((await admin.com.atproto.admin.getSubjectStatus({ did: alice.did, blob: cid })).data.takedown, { applied: false })
})

test('a blob taken down before it is uploaded stays hidden once uploaded', async () => {
  const bytes = new Uint8Array(randomBytes(1500))
  // its CID, as the server will compute it: upload to a neighbour first
  const probe = await bob.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'application/octet-stream' })
  const cid = probe.data.blob.ref.toString()
  await expectXrpcError(() => admin.com.atproto.admin.getSubjectStatus({ did: alice.did, blob: cid }), 400, 'NotFound')
  await takedown({ $type: BLOB_REF, did: alice.did, cid }, true)
  const upload = await alice.agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'application/octet-stream' })
  await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'com.example.lifecycle.attachment',
    record: { $type: 'com.example.lifecycle.attachment', file: upload.data.blob },
  })
  expectError(await blobBytes(alice.did, cid), 400, 'BlobNotFound')
})

test('takedowns survive a restart: the account, the record and the blob stay hidden until lifted', async () => {
  const erin = await net.createAccount('erin')
  const erinSeed = await seedRepo(erin.agent, erin.did, 'erin')
  const rkey = postRkey(aliceSeed, 1)
  const uri = postUri(alice.did, rkey)
  const cid = (await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })).data.cid!
  await takedown({ $type: REPO_REF, did: erin.did }, true)
  await takedown({ $type: STRONG_REF, uri, cid }, true)
  await takedown({ $type: BLOB_REF, did: alice.did, cid: aliceSeed.blobCid }, true)
  await net.restart()
  admin = adminAgent(net.url)
  expectError(await get('com.atproto.sync.getRepo', { did: erin.did }), 400, 'RepoTakendown')
  expectError(await get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey }), 400, 'RecordNotFound')
  assert.not.ok((await get('com.atproto.repo.listRecords', { repo: alice.did, collection: 'app.bsky.feed.post' })).body.records.some((r: any) => r.uri === uri))
  expectError(await blobBytes(alice.did, aliceSeed.blobCid), 400, 'BlobNotFound')
  await takedown({ $type: REPO_REF, did: erin.did }, false)
  await takedown({ $type: STRONG_REF, uri, cid }, false)
  await takedown({ $type: BLOB_REF, did: alice.did, cid: aliceSeed.blobCid }, false)
  assertServed(await publicReads(net.url, erin, erinSeed))
  assert.is((await get('com.atproto.repo.getRecord', { repo: alice.did, collection: 'app.bsky.feed.post', rkey })).status, 200)
  assert.is((await blobBytes(alice.did, aliceSeed.blobCid)).status, 200)
})

test('getSubjectStatus errors: no subject, a blob without did, unknown account, record and blob (NotFound)', async () => {
  expectError(await call('com.atproto.admin.getSubjectStatus', { authorization: ADMIN_AUTH }), 400, 'InvalidRequest', /No provided subject/)
  expectError(
    await call('com.atproto.admin.getSubjectStatus', { authorization: ADMIN_AUTH, params: { blob: aliceSeed.blobCid } }),
    400,
    'InvalidRequest',
    /did/,
  )
  const unknownDid = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  await expectXrpcError(() => admin.com.atproto.admin.getSubjectStatus({ did: unknownDid }), 400, 'NotFound')
  await expectXrpcError(() => admin.com.atproto.admin.getSubjectStatus({ uri: postUri(alice.did, '3jzfcijpj2z2a') }), 400, 'NotFound')
  await expectXrpcError(() => admin.com.atproto.admin.getSubjectStatus({ uri: postUri(unknownDid, '3jzfcijpj2z2a') }), 400, 'NotFound')
  await expectXrpcError(
    () => admin.com.atproto.admin.getSubjectStatus({ did: alice.did, blob: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' }),
    400,
    'NotFound',
  )
})

test('updateSubjectStatus refusals change nothing and announce nothing', async () => {
  const before = seqNow()
  const unknownDid = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const attempt = async (body: unknown, status: number, error: string, message?: RegExp) => {
    expectError(await call('com.atproto.admin.updateSubjectStatus', { authorization: ADMIN_AUTH, body }), status, error, message)
  }
  await attempt({ subject: { $type: REPO_REF, did: unknownDid }, takedown: { applied: true } }, 400, 'AccountNotFound')
  await attempt({ subject: { $type: REPO_REF, did: unknownDid }, takedown: { applied: false } }, 400, 'AccountNotFound')
  await attempt({ subject: { $type: REPO_REF, did: unknownDid } }, 400, 'AccountNotFound')
  await attempt({ subject: { $type: REPO_REF, did: unknownDid }, deactivated: { applied: true } }, 400, 'AccountNotFound')
  await attempt({ subject: { $type: REPO_REF, did: unknownDid }, deactivated: { applied: false } }, 400, 'AccountNotFound')
  await attempt({ subject: { $type: BLOB_REF, did: unknownDid, cid: aliceSeed.blobCid }, takedown: { applied: true } }, 400, 'AccountNotFound')
  await attempt(
    { subject: { $type: STRONG_REF, uri: postUri(unknownDid, '3jzfcijpj2z2a'), cid: aliceSeed.blobCid }, takedown: { applied: true } },
    400,
    'AccountNotFound',
  )
  await attempt({ subject: { $type: 'com.example.subject', did: alice.did }, takedown: { applied: true } }, 400, 'InvalidRequest', /Invalid subject/)
  await attempt(
    { subject: { $type: REPO_REF, did: alice.did }, takedown: { applied: true }, deactivated: { applied: false } },
    400,
    'InvalidRequest',
    /Cannot activate and takedown/,
  )
  await attempt({ subject: { $type: REPO_REF, did: 'not a did' }, takedown: { applied: true } }, 400, 'InvalidRequest')
  assert.is(seqNow(), before)
  assert.equal(eventsAfter(before), [])
  const account = net.pds.ctx.accounts.getByDid(alice.did)!
  assert.equal([account.takedown_ref, account.deactivated_at], [null, null])
  for (const table of ['record_takedown', 'blob_takedown']) {
    const n = (net.pds.ctx.db.sqlite.prepare(`SELECT count(*) AS n FROM ${table} WHERE did = ?`).get(unknownDid) as { n: number }).n
    assert.is(n, 0, table)
  }
})

test.run()
