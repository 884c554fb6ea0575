// deactivateAccount / activateAccount / checkAccountStatus through @atproto/api with the real PLC
// directory: what a deactivated account is (not served, no writes, login still works), the
// #account / #identity / #sync events a ws subscriber sees, and activation's DID document check.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { prepareRecordWrite } from '../src/repo/prepare.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { ofDid, RawSubscriber, StreamChecker } from './_firehose.ts'
import { assertRefused, assertServed, ownerWrites, publicReads, seedRepo, type Seeded } from './_lifecycle.ts'
import { expectError, rawXrpc } from './_util.ts'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string; handle: string; password: string }
let seeded: Seeded

type Signer = Parameters<typeof plc.createOp>[0]['signer']

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)

function root(did: string) {
  return net.pds.ctx.repo.roots.get(did)
}

function eventsOf(did: string): { seq: number; event_type: string }[] {
  return net.pds.ctx.db.sqlite.prepare('SELECT seq, event_type FROM repo_seq WHERE did = ? ORDER BY seq').all(did) as any
}

async function plcClient() {
  return { client: new plc.Client(net.plc.url), key: (await net.pds.ctx.identity.plcRotationKey()) as unknown as Signer }
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('alice')
  seeded = await seedRepo(alice.agent, alice.did, 'alice')
})

test.after(async () => {
  await net?.close()
})

test('deactivateAccount: #account {active:false, status:"deactivated"}; deleteAfter kept; nothing served; getRepoStatus says so', async () => {
  const before = await publicReads(net.url, alice, seeded)
  assertServed(before, 'before')
  const sub = await RawSubscriber.fromNow(net)
  const deleteAfter = new Date(Date.now() + 30 * 86400_000).toISOString()
  await alice.agent.com.atproto.server.deactivateAccount({ deleteAfter })

  const frames = await sub.waitFor((fs) => fs.some((f) => f.header.t === '#account'), 10_000, '#account')
  const account = frames.find((f) => f.header.t === '#account')!
  assert.equal({ ...account.body, seq: 0, time: '' }, { seq: 0, time: '', did: alice.did, active: false, status: 'deactivated' })
  await sub.close()
  const row = net.pds.ctx.accounts.getByDid(alice.did)!
  assert.is(row.delete_after, deleteAfter)
  assert.ok(row.deactivated_at)

  const after = await publicReads(net.url, alice, seeded)
  assertRefused(after, 'RepoDeactivated')
  const status = await alice.agent.com.atproto.sync.getRepoStatus({ did: alice.did })
  assert.equal(status.data, { did: alice.did, active: false, status: 'deactivated' })
  const repos = await alice.agent.com.atproto.sync.listRepos({})
  const listed = repos.data.repos.find((r) => r.did === alice.did)!
  assert.is(listed.active, false)
  assert.is(listed.status, 'deactivated')
})

test('while deactivated: every write is refused (400 AccountDeactivated) and the repo does not change', async () => {
  const rootBefore = root(alice.did)
  const eventsBefore = eventsOf(alice.did)
  const token = alice.agent.session!.accessJwt
  const writes = await ownerWrites(net.url, token, alice.did, seeded.rkeys[1]!)
  for (const [name, res] of Object.entries(writes)) {
    assert.is(res.status, 400, `${name}: ${JSON.stringify(res.body)}`)
    assert.is(res.body.error, 'AccountDeactivated', name)
  }
  // and the write path itself refuses, inside the commit's transaction (a write that passed the
  // handler's check just before the deactivation)
  const write = prepareRecordWrite(net.pds.ctx.lexicons, {
    did: alice.did,
    action: 'create',
    collection: 'app.bsky.feed.post',
    rkey: '3jzfcijpj2z2a',
    record: { $type: 'app.bsky.feed.post', text: 'late', createdAt: new Date().toISOString() },
    validate: true,
  })
  const refused = await net.pds.ctx.repo.commit(alice.did, [write]).then(
    () => undefined,
    (err) => err,
  )
  assert.is(refused?.customErrorName, 'AccountDeactivated', String(refused))
  assert.equal(root(alice.did), rootBefore)
  assert.equal(eventsOf(alice.did), eventsBefore)
  assert.is(net.pds.ctx.repo.records.count(alice.did), seeded.recordUris.length)
})

test('while deactivated: login still works and says so; checkAccountStatus reports the repo', async () => {
  const login = await call('com.atproto.server.createSession', { body: { identifier: alice.handle, password: alice.password } })
  assert.is(login.status, 200)
  assert.is(login.body.active, false)
  assert.is(login.body.status, 'deactivated')
  const me = await alice.agent.com.atproto.server.getSession()
  assert.is(me.data.active, false)
  assert.is(me.data.status, 'deactivated')
  const status = await alice.agent.com.atproto.server.checkAccountStatus()
  const r = root(alice.did)!
  assert.equal(status.data, {
    activated: false,
    validDid: true,
    repoCommit: r.cid,
    repoRev: r.rev,
    repoBlocks: net.pds.ctx.repo.blocks.count(alice.did),
    indexedRecords: seeded.recordUris.length,
    privateStateValues: 0,
    expectedBlobs: 1,
    importedBlobs: 1,
  })
  assert.ok(status.data.repoBlocks > seeded.recordUris.length + 1)
})

test('activateAccount refuses while the DID document does not name this server, its signing key and our rotation key; nothing changes', async () => {
  const { client, key } = await plcClient()
  const other = await Secp256k1Keypair.create()
  const eventsBefore = eventsOf(alice.did)
  const attempt = async (message: RegExp) => {
    const validDid = (await alice.agent.com.atproto.server.checkAccountStatus()).data.validDid
    assert.is(validDid, false)
    expectError(await call('com.atproto.server.activateAccount', { token: alice.agent.session!.accessJwt, method: 'POST' }), 400, 'InvalidRequest', message)
    assert.ok(net.pds.ctx.accounts.getByDid(alice.did)!.deactivated_at, 'still deactivated')
    assert.equal(eventsOf(alice.did), eventsBefore)
  }

  await client.updatePds(alice.did, key, 'https://elsewhere.example.com')
  await attempt(/atproto_pds service endpoint does not match/)
  await client.updatePds(alice.did, key, net.pds.cfg.publicUrl)

  await client.updateAtprotoKey(alice.did, key, other.did())
  await attempt(/verification method does not match expected signing key/)
  await client.updateAtprotoKey(alice.did, key, (await net.pds.ctx.repo.signingKey(alice.did)).did())

  await client.updateRotationKeys(alice.did, key, [other.did()])
  await attempt(/Server rotation key not included/)
  await client.updateRotationKeys(alice.did, other as unknown as Signer, [(key as unknown as Secp256k1Keypair).did()])
  assert.is((await alice.agent.com.atproto.server.checkAccountStatus()).data.validDid, true)
})

test('activateAccount: #identity (handle), #account {active:true}, #sync of the current commit, in that order; served and writable again', async () => {
  const current = root(alice.did)!
  const sub = await RawSubscriber.fromNow(net)
  const checker = new StreamChecker(net.plc.url)
  await alice.agent.com.atproto.server.activateAccount()
  const frames = await sub.waitFor((fs) => fs.filter(ofDid(alice.did)).length >= 3, 10_000, 'activation events')
  const mine = frames.filter(ofDid(alice.did))
  assert.equal(
    mine.map((f) => f.header.t),
    ['#identity', '#account', '#sync'],
  )
  for (const f of mine) await checker.check(f)
  assert.is(mine[0]!.body.handle, alice.handle)
  assert.equal({ ...mine[1]!.body, seq: 0, time: '' }, { seq: 0, time: '', did: alice.did, active: true })
  assert.is(mine[2]!.body.rev, current.rev)
  // the #sync names the current commit (and StreamChecker verified its signature)
  const { readCarWithRoot } = await import('@atproto/repo')
  assert.is((await readCarWithRoot(mine[2]!.body.blocks)).root.toString(), current.cid)

  const reads = await publicReads(net.url, alice, seeded)
  assertServed(reads)
  const written = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'back', createdAt: new Date().toISOString() },
  })
  const commit = await sub.waitFor((fs) => fs.some((f) => f.header.t === '#commit' && f.body.repo === alice.did), 10_000, '#commit')
  await checker.check(commit.find((f) => f.header.t === '#commit' && f.body.repo === alice.did)!)
  await sub.close()
  assert.ok(written.data.uri)
  assert.is(net.pds.ctx.accounts.getByDid(alice.did)!.delete_after, null)
  const status = await alice.agent.com.atproto.server.checkAccountStatus()
  assert.is(status.data.activated, true)
  assert.equal((await alice.agent.com.atproto.sync.getRepoStatus({ did: alice.did })).data.active, true)
})

test('no #commit of a deactivated account reaches a replaying consumer', async () => {
  // replay the whole log: between the deactivated event and the next active one, no #commit of alice
  const sub = await RawSubscriber.connect(net.url, 0)
  const current = net.pds.ctx.sequencer.currentSeq()
  const frames = (await sub.waitForSeq(current)).filter(ofDid(alice.did))
  await sub.close()
  let active = true
  let checked = 0
  for (const f of frames) {
    if (f.header.t === '#account') active = f.body.active
    if (f.header.t === '#commit') {
      assert.ok(active, `#commit seq ${f.body.seq} while inactive`)
      checked++
    }
  }
  assert.ok(checked >= 5, `saw ${checked} commits`)
  assert.ok(frames.some((f) => f.header.t === '#account' && f.body.active === false))
})

test('deactivate and activate need the account\'s own session: 401 without one; a taken-down account cannot (401 AccountTakedown)', async () => {
  expectError(await call('com.atproto.server.deactivateAccount', { body: {} }), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.activateAccount', { method: 'POST' }), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.checkAccountStatus'), 401, 'AuthMissing')
  const bob = await net.createAccount('bob')
  const token = bob.agent.session!.accessJwt
  net.pds.ctx.accounts.setTakedown(bob.did, 'test-takedown')
  try {
    const eventsBefore = eventsOf(bob.did)
    expectError(await call('com.atproto.server.deactivateAccount', { token, body: {} }), 401, 'AccountTakedown')
    expectError(await call('com.atproto.server.activateAccount', { token, method: 'POST' }), 401, 'AccountTakedown')
    assert.equal(eventsOf(bob.did), eventsBefore)
    assert.is(net.pds.ctx.accounts.getByDid(bob.did)!.deactivated_at, null)
  } finally {
    net.pds.ctx.accounts.setTakedown(bob.did, null)
  }
  // a malformed deleteAfter is refused by the lexicon, and changes nothing
  expectError(await call('com.atproto.server.deactivateAccount', { token, body: { deleteAfter: 'next week' } }), 400, 'InvalidRequest')
  assert.is(net.pds.ctx.accounts.getByDid(bob.did)!.deactivated_at, null)
})

test('deactivation survives a restart', async () => {
  const carol = await net.createAccount('carol')
  await carol.agent.com.atproto.server.deactivateAccount({})
  await net.restart()
  expectError(await call('com.atproto.sync.getLatestCommit', { params: { did: carol.did } }), 400, 'RepoDeactivated')
  const login = await call('com.atproto.server.createSession', { body: { identifier: carol.handle, password: carol.password } })
  assert.is(login.body.status, 'deactivated')
})

test.run()
