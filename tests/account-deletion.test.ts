// requestAccountDelete / deleteAccount through @atproto/api with the real PLC directory: the token
// (hashed in the database, written to the operator's outbox), every error the lexicon names with
// nothing changed, and what deletion removes: records, blocks, blobs (rows and files), sessions,
// app passwords, the handle, the event log's content; and a neighbour whose repo holds the very
// same record and blob bytes, untouched byte for byte.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { didDirName } from '../src/repo/blobstore.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { RawSubscriber, startSyncFirehose, type Frame } from './_firehose.ts'
import { assertRefused, publicReads, seedRepo, type Seeded } from './_lifecycle.ts'
import { assertBytes, expectError, expectXrpcError, getRepoCar, outboxFile, outboxToken, type RawResponse, rawXrpc, wellKnownDid } from './_util.ts'

let net: TestNetwork
let alice: TestAccount
let bob: TestAccount
let aliceSeed: Seeded
let bobSeed: Seeded
/** the same bytes, uploaded by both */
const sharedBlob = new Uint8Array(randomBytes(4096))
const sharedPost = { $type: 'app.bsky.feed.post', text: 'the same post, word for word', createdAt: '2026-01-01T00:00:00.000Z' }

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const sqlite = () => net.pds.ctx.db.sqlite

const outboxPath = (did: string) => outboxFile(net.dataDir, 'account-delete', did)
const tokenFromOutbox = (did: string) => outboxToken(net.dataDir, 'account-delete', did)

/** Rows of `did` in every table that keeps any. */
function rowsOf(did: string): Record<string, number> {
  const count = (sql: string) => (sqlite().prepare(sql).get(did) as { n: number }).n
  return {
    account: count('SELECT count(*) AS n FROM account WHERE did = ?'),
    repo_root: count('SELECT count(*) AS n FROM repo_root WHERE did = ?'),
    repo_block: count('SELECT count(*) AS n FROM repo_block WHERE did = ?'),
    record: count('SELECT count(*) AS n FROM record WHERE did = ?'),
    blob: count('SELECT count(*) AS n FROM blob WHERE did = ?'),
    record_blob: count('SELECT count(*) AS n FROM record_blob WHERE did = ?'),
    refresh_token: count('SELECT count(*) AS n FROM refresh_token WHERE did = ?'),
    app_password: count('SELECT count(*) AS n FROM app_password WHERE did = ?'),
    account_token: count('SELECT count(*) AS n FROM account_token WHERE did = ?'),
    sync_settings: count('SELECT count(*) AS n FROM sync_settings WHERE did = ?'),
  }
}

function blobFolder(did: string): string {
  return join(net.pds.cfg.blobstoreLocation, didDirName(did))
}

async function seedWithShared(account: TestAccount, label: string): Promise<Seeded> {
  const seeded = await seedRepo(account.agent, account.did, label)
  await account.agent.com.atproto.repo.createRecord({ repo: account.did, collection: 'app.bsky.feed.post', rkey: '3kshared22222', record: sharedPost })
  const up = await account.agent.com.atproto.repo.uploadBlob(sharedBlob, { encoding: 'application/octet-stream' })
  const blob = up.data.blob as unknown as { ref: { toString(): string }; mimeType: string; size: number }
  await account.agent.com.atproto.repo.createRecord({
    repo: account.did,
    collection: 'com.example.lifecycle.attachment',
    rkey: '3kshared33333',
    record: { $type: 'com.example.lifecycle.attachment', file: { $type: 'blob', ref: { $link: blob.ref.toString() }, mimeType: blob.mimeType, size: blob.size } },
  })
  return seeded
}

const sharedBlobCid = () => sqlite().prepare('SELECT blob_cid AS cid FROM record_blob WHERE did = ? AND record_uri LIKE ?').get(bob.did, '%3kshared33333') as { cid: string }

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('alice')
  bob = await net.createAccount('bob')
  aliceSeed = await seedWithShared(alice, 'alice')
  bobSeed = await seedWithShared(bob, 'bob')
})

test.after(async () => {
  await net?.close()
})

test('requestAccountDelete: a token in the reference shape in the outbox (0600), only its hash in the database', async () => {
  await alice.agent.com.atproto.server.requestAccountDelete()
  const path = outboxPath(alice.did)
  assert.ok(existsSync(path), path)
  assert.is(statSync(path).mode & 0o777, 0o600)
  assert.is(statSync(join(net.dataDir, 'outbox')).mode & 0o777, 0o700)
  const text = readFileSync(path, 'utf8')
  assert.match(text, `To: ${alice.handle}@mail.test`)
  const token = tokenFromOutbox(alice.did)
  const rows = sqlite().prepare('SELECT * FROM account_token WHERE did = ?').all(alice.did)
  assert.is(rows.length, 1)
  assert.not.ok(JSON.stringify(rows).includes(token), 'the token is stored as it is')
  assert.not.ok(JSON.stringify(rows).includes(token.replace('-', '')))
  // a second request replaces the first token
  await alice.agent.com.atproto.server.requestAccountDelete()
  assert.is.not(tokenFromOutbox(alice.did), token)
  expectError(await call('com.atproto.server.requestAccountDelete', { method: 'POST' }), 401, 'AuthMissing')
})

test('deleteAccount refusals: each with its status and error name, and nothing deleted', async () => {
  const token = tokenFromOutbox(alice.did)
  const rowsBefore = rowsOf(alice.did)
  const carBefore = await getRepoCar(net.url, alice.did)
  const attempt = async (body: Record<string, unknown>, status: number, error: string, message?: RegExp) => {
    expectError(await call('com.atproto.server.deleteAccount', { body }), status, error, message)
    assert.equal(rowsOf(alice.did), rowsBefore)
  }
  await attempt({ did: alice.did, password: 'not the password', token }, 401, 'AuthenticationRequired')
  await attempt({ did: alice.did, password: alice.password, token: 'AAAAA-BBBBB' }, 400, 'InvalidToken', /invalid/)
  await attempt({ did: alice.did, password: alice.password, token: '' }, 400, 'InvalidToken')
  // bob's token is no token for alice
  await bob.agent.com.atproto.server.requestAccountDelete()
  await attempt({ did: alice.did, password: alice.password, token: tokenFromOutbox(bob.did) }, 400, 'InvalidToken')
  await attempt({ did: 'did:plc:unknownunknownunknown22', password: alice.password, token }, 400, 'InvalidRequest', /account not found/)
  await attempt({ did: alice.did, password: 'x'.repeat(1025), token }, 400, 'InvalidRequest', /password length/)
  await attempt({ did: 'not-a-did', password: alice.password, token }, 400, 'InvalidRequest')
  await attempt({ did: alice.did, password: alice.password }, 400, 'InvalidRequest')

  // an expired token (15 minutes): let its clock run out
  sqlite().prepare('UPDATE account_token SET expires_at = ? WHERE did = ?').run(Date.now() - 1, alice.did)
  await attempt({ did: alice.did, password: alice.password, token }, 400, 'ExpiredToken', /expired/)
  // the client sees the lexicon's error names too
  await expectXrpcError(() => alice.agent.com.atproto.server.deleteAccount({ did: alice.did, password: alice.password, token }), 400, 'ExpiredToken')
  assert.not.ok(existsSync(outboxPath(alice.did)), 'an expired token leaves the outbox')
  assertBytes(await getRepoCar(net.url, alice.did), carBefore, 'alice getRepo after refusals')
})

test('deleteAccount: wrong passwords count as failed logins (429 RateLimitExceeded with Retry-After), and the limit is kept by login too', async () => {
  const dave = await net.createAccount('dave')
  await dave.agent.com.atproto.server.requestAccountDelete()
  const token = tokenFromOutbox(dave.did)
  const ip = '203.0.113.77'
  let limited: RawResponse | undefined
  for (let i = 0; i < 12 && !limited; i++) {
    const res = await call('com.atproto.server.deleteAccount', { body: { did: dave.did, password: `guess ${i}`, token }, ip })
    if (res.status === 429) limited = res
    else expectError(res, 401, 'AuthenticationRequired')
  }
  assert.ok(limited, 'never limited')
  assert.is(limited!.body.error, 'RateLimitExceeded')
  assert.ok(Number(limited!.headers.get('retry-after')) > 0)
  // the right password from that address is refused too while the limit holds, and nothing is deleted
  expectError(await call('com.atproto.server.deleteAccount', { body: { did: dave.did, password: dave.password, token }, ip }), 429, 'RateLimitExceeded')
  expectError(await call('com.atproto.server.createSession', { body: { identifier: dave.handle, password: dave.password }, ip }), 429, 'RateLimitExceeded')
  assert.is(rowsOf(dave.did).account, 1)
})

test('deleteAccount: everything of alice goes, in one step; #account deleted; bob untouched byte for byte', async () => {
  await alice.agent.com.atproto.server.createAppPassword({ name: 'phone' })
  const appSession = await call('com.atproto.server.createSession', {
    body: { identifier: alice.handle, password: (await alice.agent.com.atproto.server.createAppPassword({ name: 'tablet' })).data.password },
  })
  // private state no repo holds (the Library Manager's settings) goes with the account too
  const put = await call('app.carrel.sync.putSettings', { token: alice.agent.session!.accessJwt, body: { version: 0, settings: { theme: 'dark' } } })
  assert.is(put.status, 200, JSON.stringify(put.body))
  const bobCar = await getRepoCar(net.url, bob.did)
  const bobBlob = await call('com.atproto.sync.getBlob', { params: { did: bob.did, cid: sharedBlobCid().cid } })
  const bobReads = await publicReads(net.url, bob, bobSeed)
  const bobRows = rowsOf(bob.did)
  assert.ok(existsSync(blobFolder(alice.did)))
  assert.ok(Object.values(rowsOf(alice.did)).every((n) => n > 0), JSON.stringify(rowsOf(alice.did)))

  // a PLC operation token waiting too: it goes with the account, from the table and the outbox
  await alice.agent.com.atproto.identity.requestPlcOperationSignature()
  const outboxDir = join(net.dataDir, 'outbox')
  const aliceFiles = () => readdirSync(outboxDir).filter((f) => f.endsWith(`-${alice.did.replace(/:/g, '_')}.txt`))
  await alice.agent.com.atproto.server.requestAccountDelete()
  assert.equal(aliceFiles().map((f) => f.split('-did_')[0]).sort(), ['account-delete', 'plc-operation'])
  const token = tokenFromOutbox(alice.did)
  const sub = await RawSubscriber.fromNow(net)
  await alice.agent.com.atproto.server.deleteAccount({ did: alice.did, password: alice.password, token })

  const frames = await sub.waitFor((fs) => fs.some((f) => f.header.t === '#account'), 10_000, '#account deleted')
  await sub.close()
  assert.equal(
    frames.filter((f) => f.body.did === alice.did || f.body.repo === alice.did).map((f) => ({ t: f.header.t, ...f.body, seq: 0, time: '' })),
    [{ t: '#account', seq: 0, time: '', did: alice.did, active: false, status: 'deleted' }],
  )

  assert.equal(rowsOf(alice.did), {
    account: 0,
    repo_root: 0,
    repo_block: 0,
    record: 0,
    blob: 0,
    record_blob: 0,
    refresh_token: 0,
    app_password: 0,
    account_token: 0,
    sync_settings: 0,
  })
  assert.not.ok(existsSync(blobFolder(alice.did)), 'alice blob folder')
  assert.not.ok(existsSync(outboxPath(alice.did)), 'the used token stays in the outbox')
  assert.equal(aliceFiles(), [], 'messages for the deleted account stay in the outbox')

  // bob: the same bytes in his repo and blob store, all still there
  assertBytes(await getRepoCar(net.url, bob.did), bobCar, 'bob getRepo')
  const blobAfter = await call('com.atproto.sync.getBlob', { params: { did: bob.did, cid: sharedBlobCid().cid } })
  assert.is(blobAfter.status, 200)
  assert.is(blobAfter.body, bobBlob.body)
  const bobReadsAfter = await publicReads(net.url, bob, bobSeed)
  for (const name of Object.keys(bobReads)) {
    assert.is(bobReadsAfter[name]!.status, 200, name)
    assert.equal(bobReadsAfter[name]!.body, bobReads[name]!.body, name)
  }
  assert.equal(rowsOf(bob.did), bobRows)

  // alice's sessions are over, her handle resolves no more, her repo is not found
  expectError(await call('com.atproto.server.getSession', { token: alice.agent.session!.accessJwt }), 403, 'AccountNotFound')
  expectError(await call('com.atproto.server.getSession', { token: appSession.body.accessJwt }), 400, 'ExpiredToken')
  expectError(await call('com.atproto.server.refreshSession', { token: alice.agent.session!.refreshJwt, method: 'POST' }), 400, 'ExpiredToken')
  expectError(await call('com.atproto.server.createSession', { body: { identifier: alice.handle, password: alice.password } }), 401, 'AuthenticationRequired')
  expectError(await call('com.atproto.identity.resolveHandle', { params: { handle: alice.handle } }), 400, 'HandleNotFound')
  assert.is((await wellKnownDid(net.url, alice.handle)).status, 404)
  assertRefused(await publicReads(net.url, alice, aliceSeed), 'RepoNotFound')
  expectError(await call('com.atproto.sync.getRepoStatus', { params: { did: alice.did } }), 400, 'RepoNotFound')
  assert.not.ok((await bob.agent.com.atproto.sync.listRepos({})).data.repos.some((r) => r.did === alice.did))

  // the same token does not work twice
  expectError(await call('com.atproto.server.deleteAccount', { body: { did: alice.did, password: alice.password, token } }), 400, 'InvalidRequest')
  // and the handle is free at once
  const again = await net.agent().createAccount({ handle: alice.handle, email: 'someone-else@mail.test', password: 'another password' })
  assert.is.not(again.data.did, alice.did)
})

test('the event log keeps no record content of the deleted account: a replay from 0 holds only its #account deleted', async () => {
  const sub = await RawSubscriber.connect(net.url, 0)
  const frames = await sub.waitForSeq(net.pds.ctx.sequencer.currentSeq())
  await sub.close()
  const ofAlice = frames.filter((f: Frame) => f.body.did === alice.did || f.body.repo === alice.did)
  assert.equal(
    ofAlice.map((f) => [f.header.t, f.body.status]),
    [['#account', 'deleted']],
  )
  // her rows keep seq, type and time (the log still loses only a prefix), not a byte of content
  const rows = sqlite().prepare('SELECT event_type, length(frame) AS bytes FROM repo_seq WHERE did = ? ORDER BY seq').all(alice.did) as {
    event_type: string
    bytes: number
  }[]
  assert.ok(rows.length > 5)
  assert.ok(rows.slice(0, -1).every((r) => r.bytes === 0), JSON.stringify(rows))
  assert.is(rows.at(-1)!.event_type, '#account')
  // no frame anywhere carries her text or her DID's commits
  const all = Buffer.concat(frames.map((f) => Buffer.from(f.bytes)))
  assert.is(all.indexOf('alice post 0'), -1)
  assert.ok(all.indexOf('bob post 0') > 0)
  // bob's frames still hold the shared post (his own copy)
  assert.ok(frames.some((f) => f.header.t === '#commit' && f.body.repo === bob.did && Buffer.from(f.bytes).includes('the same post, word for word')))
})

test('@atproto/sync replaying from the start gets no commit of the deleted account, and no errors', async () => {
  const hose = startSyncFirehose(net, () => 0)
  try {
    const target = net.pds.ctx.sequencer.currentSeq()
    const deadline = Date.now() + 15_000
    while (!hose.events.some((e) => e.seq >= target) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.ok(hose.events.some((e) => e.seq >= target), `got ${hose.events.length} events`)
    assert.equal(hose.errors.map(String), [])
    assert.not.ok(hose.events.some((e) => e.did === alice.did && e.event !== 'account'))
    assert.ok(hose.events.some((e) => e.did === bob.did && e.event === 'create'))
  } finally {
    await hose.stop()
  }
})

test('a deactivated account can be deleted', async () => {
  const erin = await net.createAccount('erin')
  await seedRepo(erin.agent, erin.did, 'erin')
  await erin.agent.com.atproto.server.deactivateAccount({})
  await erin.agent.com.atproto.server.requestAccountDelete()
  await erin.agent.com.atproto.server.deleteAccount({ did: erin.did, password: erin.password, token: tokenFromOutbox(erin.did) })
  assert.ok(Object.values(rowsOf(erin.did)).every((n) => n === 0), JSON.stringify(rowsOf(erin.did)))
  assert.not.ok(existsSync(blobFolder(erin.did)))
})

test.run()
