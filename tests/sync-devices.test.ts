// Devices from outside: public app.carrel.sync.device records, private heartbeat state
// (app.carrel.sync.heartbeat) that never reaches the repo, and listDevices joining the two
// for the account itself only.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectXrpcError, getRepoCar, rawXrpc } from './_util.ts'

const DEVICE = 'app.carrel.sync.device'

type DeviceView = {
  id: string
  uri: string
  cid: string
  value: Record<string, unknown>
  state?: { lastSeenAt: string; rev?: string; appVersion?: string }
}

let net: TestNetwork
type Account = { agent: AtpAgent; did: string; handle: string }
let alice: Account
let bob: Account

test.before(async () => {
  net = await startNetwork()
  for (const name of ['devices-alice', 'devices-bob']) {
    const a = await net.createAccount(name)
    const account = { agent: withCarrelLexicons(a.agent), did: a.did, handle: a.handle }
    if (name.endsWith('alice')) alice = account
    else bob = account
  }
})

test.after(async () => {
  await net?.close()
})

function device(name: string, platform = 'windows', extra: Record<string, unknown> = {}) {
  return { $type: DEVICE, name, platform, appVersion: '2.4.1', createdAt: new Date().toISOString(), ...extra }
}

async function addDevice(who: Account, id: string, name: string, platform = 'windows'): Promise<string> {
  const res = await who.agent.com.atproto.repo.putRecord({ repo: who.did, collection: DEVICE, rkey: id, record: device(name, platform) })
  return res.data.commit!.rev
}

async function heartbeat(who: Account, input: Record<string, unknown>) {
  return (await who.agent.call('app.carrel.sync.heartbeat', {}, input)).data as { lastSeenAt: string; rev: string }
}

async function listDevices(who: Account, params: Record<string, unknown> = {}) {
  return (await who.agent.call('app.carrel.sync.listDevices', { repo: who.did, ...params })).data as { devices: DeviceView[]; cursor?: string }
}

async function latestCommit(did: string): Promise<{ cid: string; rev: string }> {
  return (await (await fetch(`${net.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)).json()) as { cid: string; rev: string }
}

test('heartbeat keeps the device state privately: the repo, its rev and the firehose do not change', async () => {
  const syncedRev = await addDevice(alice, 'laptop-7f3a', 'Study laptop', 'linux')
  const before = await latestCommit(alice.did)
  const carBefore = await getRepoCar(net.url, alice.did)
  const seqBefore = net.pds.ctx.sequencer.currentSeq()

  const first = await heartbeat(alice, { device: 'laptop-7f3a', rev: syncedRev, appVersion: '2.5.0-beta.1' })
  assert.is(first.rev, before.rev, 'answers the repo rev')
  const second = await heartbeat(alice, { device: 'laptop-7f3a' })
  assert.ok(second.lastSeenAt >= first.lastSeenAt)

  assert.equal(await latestCommit(alice.did), before, 'same commit and rev')
  assert.equal(Buffer.from(await getRepoCar(net.url, alice.did)), Buffer.from(carBefore), 'the same repo, byte for byte')
  assert.is(net.pds.ctx.sequencer.currentSeq(), seqBefore, 'no firehose event')

  const { devices } = await listDevices(alice)
  assert.is(devices.length, 1)
  const d = devices[0]!
  assert.is(d.id, 'laptop-7f3a')
  assert.is(d.uri, `at://${alice.did}/${DEVICE}/laptop-7f3a`)
  assert.is(d.value.name, 'Study laptop')
  assert.is(d.value.platform, 'linux')
  // a heartbeat without rev or appVersion keeps what the device reported before
  assert.equal(d.state, { lastSeenAt: second.lastSeenAt, rev: syncedRev, appVersion: '2.5.0-beta.1' })
  const rec = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: DEVICE, rkey: 'laptop-7f3a' })
  assert.is(d.cid, rec.data.cid)
  assert.not.ok(JSON.stringify(rec.data.value).includes('2.5.0-beta.1'), 'the reported app version is not in the public record')
})

test('heartbeat for a device without a record: DeviceNotFound, and nothing is kept', async () => {
  const before = await latestCommit(alice.did)
  await expectXrpcError(() => heartbeat(alice, { device: 'phone-unregistered', appVersion: '9.9.9' }), 400, 'DeviceNotFound')
  await addDevice(alice, 'phone-unregistered', 'Phone', 'android')
  const view = (await listDevices(alice)).devices.find((d) => d.id === 'phone-unregistered')!
  assert.is(view.state, undefined, 'the refused heartbeat left no state')
  assert.ok((await latestCommit(alice.did)).rev > before.rev)
})

test("a device's state goes with its record", async () => {
  await addDevice(alice, 'tablet-1', 'Tablet', 'ios')
  await heartbeat(alice, { device: 'tablet-1', appVersion: '2.4.1' })
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: DEVICE, rkey: 'tablet-1' })
  await expectXrpcError(() => heartbeat(alice, { device: 'tablet-1' }), 400, 'DeviceNotFound')
  await addDevice(alice, 'tablet-1', 'Tablet, again', 'ios')
  const view = (await listDevices(alice)).devices.find((d) => d.id === 'tablet-1')!
  assert.is(view.state, undefined, 'a new record starts without the old state')
})

test("another account's devices and state are never visible", async () => {
  // the same device id in both accounts
  await addDevice(bob, 'laptop-7f3a', "Bob's laptop", 'macos')
  const aliceBefore = (await listDevices(alice)).devices.find((d) => d.id === 'laptop-7f3a')!
  await heartbeat(bob, { device: 'laptop-7f3a', appVersion: '1.0.0' })
  const aliceAfter = (await listDevices(alice)).devices.find((d) => d.id === 'laptop-7f3a')!
  assert.equal(aliceAfter, aliceBefore, "bob's heartbeat did not touch alice's device")
  const bobs = (await listDevices(bob)).devices
  assert.equal(bobs.map((d) => [d.id, d.state?.appVersion]), [['laptop-7f3a', '1.0.0']])

  // bob asks for alice's devices, by DID and by handle
  for (const repo of [alice.did, alice.handle]) {
    const res = await rawXrpc(net.url, 'app.carrel.sync.listDevices', { params: { repo }, token: bob.agent.session!.accessJwt })
    assert.is(res.status, 403)
    assert.is(res.body.error, 'Forbidden')
    assert.not.ok(JSON.stringify(res.body).includes('laptop'), 'nothing of alice in the answer')
  }
  // bob's heartbeat names one of alice's device ids that he has no record for
  await expectXrpcError(() => heartbeat(bob, { device: 'phone-unregistered' }), 400, 'DeviceNotFound')
  // no token at all
  const anonymous = await rawXrpc(net.url, 'app.carrel.sync.listDevices', { params: { repo: alice.did } })
  assert.is(anonymous.status, 401)
  assert.is(anonymous.body.error, 'AuthMissing')
  const anonymousBeat = await rawXrpc(net.url, 'app.carrel.sync.heartbeat', { body: { device: 'laptop-7f3a' } })
  assert.is(anonymousBeat.status, 401)
  assert.is((await listDevices(alice)).devices.find((d) => d.id === 'laptop-7f3a')!.state?.appVersion, '2.5.0-beta.1')
})

test('listDevices pages in key order', async () => {
  const a = await net.createAccount('devices-many')
  const who = { agent: withCarrelLexicons(a.agent), did: a.did, handle: a.handle }
  for (const id of ['d-c', 'd-a', 'd-b', 'd-e', 'd-d']) await addDevice(who, id, id)
  const first = await listDevices(who, { limit: 2 })
  assert.equal(first.devices.map((d) => d.id), ['d-a', 'd-b'])
  const second = await listDevices(who, { limit: 2, cursor: first.cursor })
  assert.equal(second.devices.map((d) => d.id), ['d-c', 'd-d'])
  const third = await listDevices(who, { limit: 2, cursor: second.cursor })
  assert.equal(third.devices.map((d) => d.id), ['d-e'])
  assert.is(third.cursor, undefined)
})

test('device records are validated: platform, name, app version, createdAt', async () => {
  const bad: [string, Record<string, unknown>][] = [
    ['platform', device('X', 'beos')],
    ['name', device('')],
    ['name', device('n'.repeat(65))],
    ['appVersion', device('X', 'web', { appVersion: '' })],
    ['appVersion', device('X', 'web', { appVersion: '1'.repeat(65) })],
    ['createdAt', device('X', 'web', { createdAt: 'yesterday' })],
    ['createdAt', { $type: DEVICE, name: 'X', platform: 'web' }],
  ]
  const before = await latestCommit(alice.did)
  for (const [field, record] of bad) {
    const res = await rawXrpc(net.url, 'com.atproto.repo.createRecord', {
      body: { repo: alice.did, collection: DEVICE, rkey: 'bad-device', record },
      token: alice.agent.session!.accessJwt,
    })
    assert.is(res.status, 400, `${field}: ${JSON.stringify(record)}`)
    assert.is(res.body.error, 'InvalidRecord')
    assert.match(res.body.message, field)
  }
  assert.equal(await latestCommit(alice.did), before, 'nothing written')
  for (const platform of ['windows', 'macos', 'linux', 'ios', 'android', 'web']) {
    await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: DEVICE, rkey: `ok-${platform}`, record: device(platform, platform) })
  }
})

test('heartbeat input is validated', async () => {
  const token = alice.agent.session!.accessJwt
  for (const body of [{}, { device: 'laptop-7f3a', rev: 'not-a-tid' }, { device: 'bad/key' }, { device: 'laptop-7f3a', appVersion: 'v'.repeat(65) }]) {
    const res = await rawXrpc(net.url, 'app.carrel.sync.heartbeat', { body, token })
    assert.is(res.status, 400, JSON.stringify(body))
    assert.is(res.body.error, 'InvalidRequest')
  }
  assert.is((await listDevices(alice)).devices.find((d) => d.id === 'laptop-7f3a')!.state?.appVersion, '2.5.0-beta.1', 'unchanged')
})

test('owner-only methods follow the account status: AccountDeactivated, AccountTakedown, RepoNotFound, AccountNotFound', async () => {
  const a = await net.createAccount('devices-status')
  const who = { agent: withCarrelLexicons(a.agent), did: a.did, handle: a.handle }
  await addDevice(who, 'pc', 'PC')
  await heartbeat(who, { device: 'pc', appVersion: '1.0.0' })
  await who.agent.call('app.carrel.sync.putSettings', {}, { version: 0, settings: { theme: 'dark' } })
  // raw calls with the token: @atproto/api drops its session after a 401 (AccountTakedown)
  const token = who.agent.session!.accessJwt
  const calls: [string, { params?: Record<string, string>; body?: unknown }][] = [
    ['app.carrel.sync.heartbeat', { body: { device: 'pc', appVersion: '6.6.6' } }],
    ['app.carrel.sync.listDevices', { params: { repo: who.did } }],
    ['app.carrel.sync.getSettings', {}],
    ['app.carrel.sync.putSettings', { body: { version: 1, settings: { theme: 'light' } } }],
  ]
  const expectAll = async (status: number, error: string) => {
    for (const [nsid, opts] of calls) {
      const res = await rawXrpc(net.url, nsid, { ...opts, token })
      assert.is(res.status, status, nsid)
      assert.is(res.body.error, error, nsid)
    }
  }
  const accounts = net.pds.ctx.accounts
  accounts.setDeactivated(who.did, new Date().toISOString())
  await expectAll(400, 'AccountDeactivated')
  accounts.setDeactivated(who.did, null)
  accounts.setTakedown(who.did, 'mod-1')
  await expectAll(401, 'AccountTakedown')
  accounts.setTakedown(who.did, null)

  // nothing changed meanwhile
  const devices = await rawXrpc(net.url, 'app.carrel.sync.listDevices', { params: { repo: who.did }, token })
  assert.equal(devices.body.devices.map((d: DeviceView) => d.state?.appVersion), ['1.0.0'])
  const settings = await rawXrpc(net.url, 'app.carrel.sync.getSettings', { token })
  assert.equal(settings.body, { version: 1, settings: { theme: 'dark' } })

  const unknown = await rawXrpc(net.url, 'app.carrel.sync.listDevices', { params: { repo: 'nobody.test' }, token })
  assert.is(unknown.status, 400)
  assert.is(unknown.body.error, 'RepoNotFound')

  // a token that outlived its account (deleted behind the server's back): the auth layer refuses it
  const db = net.pds.ctx.db.sqlite
  db.prepare('DELETE FROM account WHERE did = ?').run(who.did)
  accounts.invalidate(who.did)
  await expectAll(403, 'AccountNotFound')
})

test.run()
