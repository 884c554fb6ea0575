// The admin API (com.atproto.admin.*, HTTP Basic admin:<PDS_ADMIN_PASSWORD>) through @atproto/api
// against a real server and PLC directory: every method refuses missing, wrong and user
// credentials with 401 and an XRPC body, changing nothing; getAccountInfo(s); updateAccountHandle
// (through the handle updater: the DID document and #identity), updateAccountEmail and
// updateAccountPassword (sessions and their access tokens end) with their refusals; deleteAccount without the holder's
// password or token, a taken-down account's included.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { didDirName } from '../src/repo/blobstore.ts'
import { ADMIN_AUTH, ADMIN_PASSWORD, adminAgent, basic } from './_admin.ts'
import { type Frame, ofDid, RawSubscriber } from './_firehose.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { assertRefused, publicReads, seedRepo, type Seeded } from './_lifecycle.ts'
import { assertBytes, expectError, expectXrpcError, getRepoCar, outboxFile, plcData, rawXrpc } from './_util.ts'

let net: TestNetwork
let admin: AtpAgent
let alice: TestAccount
let bob: TestAccount
let aliceSeed: Seeded
let sub: RawSubscriber

const UNKNOWN_DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const sqlite = () => net.pds.ctx.db.sqlite
const seqNow = () => net.pds.ctx.sequencer.currentSeq()

/** Everything an admin call could change about the accounts, the invites and the event log. */
function snapshot() {
  const all = (sql: string) => sqlite().prepare(sql).all()
  return {
    accounts: all('SELECT * FROM account ORDER BY did'),
    sessions: all('SELECT id FROM refresh_token ORDER BY id'),
    invites: all('SELECT * FROM invite_code ORDER BY code'),
    takedowns: [...all('SELECT * FROM record_takedown'), ...all('SELECT * FROM blob_takedown')],
    roots: all('SELECT * FROM repo_root ORDER BY did'),
    seq: seqNow(),
  }
}


async function eventsOf(did: string, after: number, count: number): Promise<Frame[]> {
  const frames = await sub.waitFor((fs) => fs.filter((f) => f.body.seq > after && ofDid(did)(f)).length >= count, 10_000, `events of ${did}`)
  return frames.filter((f) => f.body.seq > after && ofDid(did)(f))
}

test.before(async () => {
  net = await startNetwork()
  admin = adminAgent(net.url)
  alice = await net.createAccount('alice')
  bob = await net.createAccount('bob')
  aliceSeed = await seedRepo(alice.agent, alice.did, 'alice')
  sub = await RawSubscriber.fromNow(net)
})

test.after(async () => {
  await sub?.close()
  await net?.close()
})

test('every admin method: missing, wrong and user credentials are 401 with an XRPC body, and nothing changes', async () => {
  const reads: [string, Record<string, string>][] = [
    ['com.atproto.admin.getAccountInfo', { did: alice.did }],
    ['com.atproto.admin.getAccountInfos', { dids: alice.did }],
    ['com.atproto.admin.getSubjectStatus', { did: alice.did }],
    ['com.atproto.admin.getInviteCodes', {}],
  ]
  const writes: [string, Record<string, unknown>][] = [
    ['com.atproto.admin.updateSubjectStatus', { subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did }, takedown: { applied: true } }],
    ['com.atproto.admin.updateAccountHandle', { did: alice.did, handle: 'stolen.test' }],
    ['com.atproto.admin.updateAccountEmail', { account: alice.did, email: 'stolen@mail.test' }],
    ['com.atproto.admin.updateAccountPassword', { did: alice.did, password: 'a stolen password' }],
    ['com.atproto.admin.disableAccountInvites', { account: alice.did }],
    ['com.atproto.admin.enableAccountInvites', { account: alice.did }],
    ['com.atproto.admin.disableInviteCodes', { accounts: [alice.did] }],
    ['com.atproto.admin.deleteAccount', { did: alice.did }],
    ['com.atproto.server.createInviteCode', { useCount: 1 }],
    ['com.atproto.server.createInviteCodes', { codeCount: 1, useCount: 1 }],
  ]
  const credentials: [string, string | undefined, string][] = [
    ['none', undefined, 'AuthMissing'],
    ['wrong password', basic('admin', 'not-the-admin-password'), 'AuthenticationRequired'],
    ['wrong user', basic('root', ADMIN_PASSWORD), 'AuthenticationRequired'],
    ['no user', basic('', ADMIN_PASSWORD), 'AuthenticationRequired'],
    ['password with a suffix', basic('admin', ADMIN_PASSWORD + 'x'), 'AuthenticationRequired'],
    ['a prefix of the password', basic('admin', ADMIN_PASSWORD.slice(0, -1)), 'AuthenticationRequired'],
    ['not base64', 'Basic !!!not-base64!!!', 'AuthenticationRequired'],
    ['empty Basic', 'Basic ', 'AuthMissing'],
    ["a user's access token", `Bearer ${alice.agent.session!.accessJwt}`, 'AuthMissing'],
    ['the admin password as a Bearer token', `Bearer ${ADMIN_PASSWORD}`, 'AuthMissing'],
  ]
  const before = snapshot()
  for (const [label, authorization, error] of credentials) {
    const requests = [
      ...reads.map(([nsid, params]) => [nsid, () => call(nsid, { params, ...(authorization ? { authorization } : {}) })] as const),
      ...writes.map(([nsid, body]) => [nsid, () => call(nsid, { body, ...(authorization ? { authorization } : {}) })] as const),
    ]
    for (const [nsid, send] of requests) {
      const res = await send()
      assert.is(res.status, 401, `${nsid} with ${label}: ${JSON.stringify(res.body)}`)
      assert.equal(Object.keys(res.body).sort(), ['error', 'message'], `${nsid} with ${label}`)
      assert.is(res.body.error, error, `${nsid} with ${label}`)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/, `${nsid} with ${label}`)
    }
  }
  assert.equal(snapshot(), before)
  assert.equal(await plcData(net.plc.url, alice.did).then((d) => d.alsoKnownAs), [`at://${alice.handle}`])
  // the typed client, with the agent's headers
  await expectXrpcError(() => adminAgent(net.url, basic('admin', 'nope')).com.atproto.admin.getAccountInfo({ did: alice.did }), 401, 'AuthenticationRequired')
  // and the account's own method refuses the admin's credentials
  expectError(await call('com.atproto.server.getAccountInviteCodes', { authorization: ADMIN_AUTH }), 401, 'AuthMissing')
})

test('getAccountInfo / getAccountInfos: the account view; NotFound; unknown DIDs left out', async () => {
  const info = await admin.com.atproto.admin.getAccountInfo({ did: alice.did })
  const row = net.pds.ctx.accounts.getByDid(alice.did)!
  assert.equal(info.data, {
    did: alice.did,
    handle: alice.handle,
    email: `${alice.handle}@mail.test`,
    indexedAt: row.created_at,
    invites: [],
    invitesDisabled: false,
  })
  await expectXrpcError(() => admin.com.atproto.admin.getAccountInfo({ did: UNKNOWN_DID }), 400, 'NotFound')
  expectError(await call('com.atproto.admin.getAccountInfo', { authorization: ADMIN_AUTH }), 400, 'InvalidRequest')

  const infos = await admin.com.atproto.admin.getAccountInfos({ dids: [alice.did, UNKNOWN_DID, bob.did, alice.did] })
  assert.equal(
    infos.data.infos.map((i) => [i.did, i.handle]),
    [
      [alice.did, alice.handle],
      [bob.did, bob.handle],
    ],
  )
  // a deactivated account shows when
  await bob.agent.com.atproto.server.deactivateAccount({})
  const bobInfo = await admin.com.atproto.admin.getAccountInfo({ did: bob.did })
  assert.is(bobInfo.data.deactivatedAt, net.pds.ctx.accounts.getByDid(bob.did)!.deactivated_at)
  await bob.agent.com.atproto.server.activateAccount()
})

test('updateAccountHandle: through the handle updater (DID document, account, #identity), without the per-account limit', async () => {
  const after = seqNow()
  await admin.com.atproto.admin.updateAccountHandle({ did: alice.did, handle: 'alice-admin.test' })
  assert.equal((await plcData(net.plc.url, alice.did)).alsoKnownAs, ['at://alice-admin.test'])
  assert.is((await alice.agent.com.atproto.server.getSession()).data.handle, 'alice-admin.test')
  const [evt] = await eventsOf(alice.did, after, 1)
  assert.equal([evt!.header.t, evt!.body.handle], ['#identity', 'alice-admin.test'])
  // a user gets ten changes in five minutes; the admin is not counted
  for (let i = 0; i < 11; i++) await admin.com.atproto.admin.updateAccountHandle({ did: alice.did, handle: `alice-n${i}.test` })
  await admin.com.atproto.admin.updateAccountHandle({ did: alice.did, handle: alice.handle })
  assert.is((await alice.agent.com.atproto.server.getSession()).data.handle, alice.handle)
  assert.equal((await plcData(net.plc.url, alice.did)).alsoKnownAs, [`at://${alice.handle}`])
})

test('updateAccountHandle refusals: taken, invalid, unknown account; nothing changes', async () => {
  const before = snapshot()
  const docBefore = await plcData(net.plc.url, alice.did)
  const attempt = async (body: Record<string, unknown>, status: number, error: string) => {
    expectError(await call('com.atproto.admin.updateAccountHandle', { authorization: ADMIN_AUTH, body }), status, error)
  }
  await attempt({ did: alice.did, handle: bob.handle }, 400, 'HandleNotAvailable')
  await attempt({ did: alice.did, handle: 'ab.test' }, 400, 'InvalidHandle')
  await attempt({ did: alice.did, handle: 'alice.example' }, 400, 'InvalidHandle')
  await attempt({ did: UNKNOWN_DID, handle: 'nobody-here.test' }, 400, 'AccountNotFound')
  assert.equal(snapshot(), before)
  assert.equal(await plcData(net.plc.url, alice.did), docBefore)
})

test('updateAccountHandle of a taken-down account: the DID document and the account change, the old handle is free; #identity when the takedown is lifted', async () => {
  const carol = await net.createAccount('carol')
  const subject = { $type: 'com.atproto.admin.defs#repoRef', did: carol.did }
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true } })
  const after = seqNow()
  await admin.com.atproto.admin.updateAccountHandle({ did: carol.did, handle: 'carol-renamed.test' })
  assert.equal((await plcData(net.plc.url, carol.did)).alsoKnownAs, ['at://carol-renamed.test'])
  assert.is(net.pds.ctx.accounts.getByDid(carol.did)!.handle, 'carol-renamed.test')
  assert.is(seqNow(), after, 'no event while taken down')
  // the handle it had is free for someone else
  const other = await net.agent().createAccount({ handle: carol.handle, email: 'another-carol@mail.test', password: carol.password })
  assert.is(other.data.handle, carol.handle)
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: false } })
  const events = await eventsOf(carol.did, after, 3)
  assert.equal([events[0]!.header.t, events[0]!.body.handle], ['#identity', 'carol-renamed.test'])
})

test('updateAccountHandle of a deactivated account: the DID document and the account change; #identity waits for activation', async () => {
  const dave = await net.createAccount('dave')
  await dave.agent.com.atproto.server.deactivateAccount({})
  const after = seqNow()
  await admin.com.atproto.admin.updateAccountHandle({ did: dave.did, handle: 'dave-renamed.test' })
  assert.equal((await plcData(net.plc.url, dave.did)).alsoKnownAs, ['at://dave-renamed.test'])
  assert.is(net.pds.ctx.accounts.getByDid(dave.did)!.handle, 'dave-renamed.test')
  assert.is(seqNow(), after, 'no event while deactivated')
  await dave.agent.com.atproto.server.activateAccount()
  const events = await eventsOf(dave.did, after, 3)
  assert.equal([events[0]!.header.t, events[0]!.body.handle], ['#identity', 'dave-renamed.test'])
})

test('updateAccountEmail: by handle or DID; login with the new address; pending tokens dropped; refusals change nothing', async () => {
  await alice.agent.com.atproto.server.requestAccountDelete()
  const outbox = outboxFile(net.dataDir, 'account-delete', alice.did)
  assert.ok(existsSync(outbox))
  await admin.com.atproto.admin.updateAccountEmail({ account: alice.handle, email: ' Alice.New@Mail.Test ' })
  assert.is((await admin.com.atproto.admin.getAccountInfo({ did: alice.did })).data.email, 'alice.new@mail.test')
  await net.agent().login({ identifier: 'alice.new@mail.test', password: alice.password })
  await expectXrpcError(() => net.agent().login({ identifier: `${alice.handle}@mail.test`, password: alice.password }), 401, 'AuthenticationRequired')
  assert.not.ok(existsSync(outbox), 'the token sent to the old address is withdrawn')
  assert.is((sqlite().prepare('SELECT count(*) AS n FROM account_token WHERE did = ?').get(alice.did) as { n: number }).n, 0)
  await admin.com.atproto.admin.updateAccountEmail({ account: alice.did, email: 'alice2@mail.test' })
  assert.is(net.pds.ctx.accounts.getByDid(alice.did)!.email, 'alice2@mail.test')

  const before = snapshot()
  const attempt = async (body: Record<string, unknown>, error: string, message?: RegExp) => {
    expectError(await call('com.atproto.admin.updateAccountEmail', { authorization: ADMIN_AUTH, body }), 400, error, message)
  }
  await attempt({ account: alice.did, email: `${bob.handle}@mail.test` }, 'InvalidRequest', /Email already taken/)
  await attempt({ account: alice.did, email: 'not an address' }, 'InvalidRequest', /not valid/)
  await attempt({ account: alice.did, email: '' }, 'InvalidRequest', /required/)
  await attempt({ account: UNKNOWN_DID, email: 'x@mail.test' }, 'AccountNotFound')
  await attempt({ account: 'nobody.test', email: 'x@mail.test' }, 'AccountNotFound')
  assert.equal(snapshot(), before)
})

test('updateAccountPassword: the new password works, the old does not, every session and its access token ends; refusals change nothing', async () => {
  const appPassword = (await alice.agent.com.atproto.server.createAppPassword({ name: 'reader' })).data.password
  const appSession = net.agent()
  await appSession.login({ identifier: alice.handle, password: appPassword })
  const refreshTokens = [alice.agent.session!.refreshJwt, appSession.session!.refreshJwt]
  const accessTokens = [alice.agent.session!.accessJwt, appSession.session!.accessJwt]

  const before = snapshot()
  const attempt = async (body: Record<string, unknown>, error: string, message?: RegExp) => {
    expectError(await call('com.atproto.admin.updateAccountPassword', { authorization: ADMIN_AUTH, body }), 400, error, message)
  }
  await attempt({ did: alice.did, password: 'short' }, 'InvalidRequest', /at least 8/)
  await attempt({ did: alice.did, password: 'x'.repeat(1025) }, 'InvalidRequest', /too long/)
  await attempt({ did: UNKNOWN_DID, password: 'a fine new password' }, 'AccountNotFound')
  assert.equal(snapshot(), before)
  await net.agent().login({ identifier: alice.handle, password: alice.password })

  // the sessions' access tokens were issued in an earlier second than the change
  await new Promise((r) => setTimeout(r, 1005 - (Date.now() % 1000)))
  await admin.com.atproto.admin.updateAccountPassword({ did: alice.did, password: 'a fine new password' })
  await expectXrpcError(() => net.agent().login({ identifier: alice.handle, password: alice.password }), 401, 'AuthenticationRequired')
  for (const token of refreshTokens) {
    expectError(await call('com.atproto.server.refreshSession', { token, method: 'POST' }), 400, 'ExpiredToken')
  }
  assert.is((sqlite().prepare('SELECT count(*) AS n FROM refresh_token WHERE did = ?').get(alice.did) as { n: number }).n, 0)
  // their access tokens end too, the app password's session's included
  for (const token of accessTokens) {
    expectError(await call('com.atproto.server.getSession', { token }), 400, 'ExpiredToken')
  }
  alice.password = 'a fine new password'
  await alice.agent.login({ identifier: alice.handle, password: alice.password })
  assert.is((await alice.agent.com.atproto.server.getSession()).data.did, alice.did)
  // app passwords are kept, as the reference keeps them
  await net.agent().login({ identifier: alice.handle, password: appPassword })
})

test('deleteAccount: without password or token, everything of the account goes, #account deleted; then AccountNotFound', async () => {
  const bobCar = await getRepoCar(net.url, bob.did)
  const after = seqNow()
  await admin.com.atproto.admin.deleteAccount({ did: alice.did })
  const [evt] = await eventsOf(alice.did, after, 1)
  assert.equal({ ...evt!.body, seq: 0, time: '' }, { seq: 0, time: '', did: alice.did, active: false, status: 'deleted' })
  for (const table of ['account', 'repo_root', 'repo_block', 'record', 'blob', 'refresh_token', 'app_password']) {
    assert.is((sqlite().prepare(`SELECT count(*) AS n FROM ${table} WHERE did = ?`).get(alice.did) as { n: number }).n, 0, table)
  }
  assert.not.ok(existsSync(join(net.pds.cfg.blobstoreLocation, didDirName(alice.did))), 'blob files removed')
  assertRefused(await publicReads(net.url, alice, aliceSeed), 'RepoNotFound')
  await expectXrpcError(() => admin.com.atproto.admin.deleteAccount({ did: alice.did }), 400, 'AccountNotFound')
  // the handle is free again; bob is untouched
  await net.agent().createAccount({ handle: alice.handle, email: 'alice-again@mail.test', password: 'password for the new alice' })
  assertBytes(await getRepoCar(net.url, bob.did), bobCar, "bob's repo")
})

test('deleteAccount of a taken-down account: its kept data goes too', async () => {
  const erin = await net.createAccount('erin')
  await seedRepo(erin.agent, erin.did, 'erin')
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: 'com.atproto.admin.defs#repoRef', did: erin.did }, takedown: { applied: true } })
  const cid = (sqlite().prepare('SELECT cid FROM repo_root WHERE did = ?').get(erin.did) as { cid: string }).cid
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: 'com.atproto.repo.strongRef', uri: `at://${erin.did}/app.bsky.feed.post/3jzfcijpj2z2a`, cid }, takedown: { applied: true } })
  await admin.com.atproto.admin.deleteAccount({ did: erin.did })
  for (const table of ['account', 'repo_block', 'record', 'blob', 'record_takedown']) {
    assert.is((sqlite().prepare(`SELECT count(*) AS n FROM ${table} WHERE did = ?`).get(erin.did) as { n: number }).n, 0, table)
  }
  expectError(await call('com.atproto.sync.getLatestCommit', { params: { did: erin.did } }), 400, 'RepoNotFound')
})

test.run()
