// Install reports from outside: devices of three accounts write app.carrel.update.install records
// in their owners' repos; getAdoption counts each device once per release (its latest record),
// with the failure codes, only for accounts this server serves (a deactivated account drops out
// and comes back, a deleted one's records go with it); getInstallStatus lists an account's
// installs per device. Install records that name no release, or another version, are refused.
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { artifact, INSTALL, publish, reportInstall, uploadArtifact } from './_updates.ts'
import { expectXrpcError, outboxToken } from './_util.ts'

let net: TestNetwork
type Account = { agent: AtpAgent; did: string; password: string }
let publisher: Account
let alice: Account
let bob: Account
let carol: Account
let r100: { uri: string; cid: string }
let r110: { uri: string; cid: string }
const P = 'library-manager'

const account = async (name: string): Promise<Account> => {
  const a = await net.createAccount(name)
  return { agent: withCarrelLexicons(a.agent), did: a.did, password: a.password }
}

type Adoption = {
  releases: { uri: string; version: string; yanked?: boolean; completed: number; failed: number; rolledBack: number; inProgress: number; failures: { errorCode: string; devices: number }[] }[]
  cursor?: string
}

async function adoption(params: Record<string, unknown> = {}): Promise<Adoption> {
  return (await withCarrelLexicons(net.agent()).call('app.carrel.update.getAdoption', { publisher: publisher.did, product: P, ...params })).data as Adoption
}

type Status = { devices: { device: string; installs: { uri: string; release: { uri: string }; status: string; errorCode?: string; toVersion: string; fromVersion?: string }[] }[] }

async function installStatus(who: Account, params: Record<string, unknown> = {}): Promise<Status> {
  return (await withCarrelLexicons(net.agent()).call('app.carrel.update.getInstallStatus', { repo: who.did, ...params })).data as Status
}

const counts = (a: Adoption, version: string) => {
  const r = a.releases.find((x) => x.version === version)!
  return { completed: r.completed, failed: r.failed, rolledBack: r.rolledBack, inProgress: r.inProgress, failures: r.failures }
}

test.before(async () => {
  net = await startNetwork()
  publisher = await account('installs-publisher')
  alice = await account('installs-alice')
  bob = await account('installs-bob')
  carol = await account('installs-carol')
  const file = await uploadArtifact(publisher.agent, new Uint8Array(randomBytes(2000)))
  r100 = await publish(publisher.agent, publisher.did, { version: '1.0.0', artifacts: [artifact(file)] })
  r110 = await publish(publisher.agent, publisher.did, { version: '1.1.0', artifacts: [artifact(file)] })
})

test.after(async () => {
  await net?.close()
})

const install = (release: { uri: string; cid: string }, toVersion: string, fields: Record<string, unknown>) => ({
  release,
  toVersion,
  fromVersion: '1.0.0',
  startedAt: new Date().toISOString(),
  ...fields,
})

test('install reports from three devices roll up in getAdoption: latest record per device, failure codes, served accounts only', async () => {
  // alice's laptop goes through the states on one record; her desktop fails
  const a1 = await reportInstall(alice.agent, alice.did, install(r110, '1.1.0', { device: 'alice-laptop', status: 'pending', method: 'delta' }))
  await reportInstall(alice.agent, alice.did, install(r110, '1.1.0', { device: 'alice-desktop', status: 'failed', errorCode: 'E_DISK_FULL' }))
  // bob's first attempt failed; his second installed and was then rolled back
  await reportInstall(bob.agent, bob.did, install(r110, '1.1.0', { device: 'bob-pc', status: 'failed', errorCode: 'E_DISK_FULL' }))
  const b2 = await reportInstall(bob.agent, bob.did, install(r110, '1.1.0', { device: 'bob-pc', status: 'installing' }))
  // carol is on 1.0.0
  await reportInstall(carol.agent, carol.did, install(r100, '1.0.0', { device: 'carol-mac', status: 'completed', method: 'preloaded', fromVersion: undefined }))

  let a = await adoption()
  assert.equal(a.releases.map((r) => r.version), ['1.1.0', '1.0.0'], 'newest first')
  assert.equal(counts(a, '1.1.0'), { completed: 0, failed: 1, rolledBack: 0, inProgress: 2, failures: [{ errorCode: 'E_DISK_FULL', devices: 1 }] })
  assert.equal(counts(a, '1.0.0'), { completed: 1, failed: 0, rolledBack: 0, inProgress: 0, failures: [] })

  for (const status of ['downloading', 'installing', 'completed']) {
    await reportInstall(alice.agent, alice.did, install(r110, '1.1.0', { device: 'alice-laptop', status, method: 'delta', updatedAt: new Date().toISOString() }), a1.rkey)
  }
  await reportInstall(bob.agent, bob.did, install(r110, '1.1.0', { device: 'bob-pc', status: 'rolledBack', errorCode: 'E_CRASH_ON_START' }), b2.rkey)
  a = await adoption()
  assert.equal(counts(a, '1.1.0'), {
    completed: 1,
    failed: 1,
    rolledBack: 1,
    inProgress: 0,
    failures: [
      { errorCode: 'E_CRASH_ON_START', devices: 1 },
      { errorCode: 'E_DISK_FULL', devices: 1 },
    ],
  })

  // pages
  const first = await adoption({ limit: 1 })
  assert.equal([first.releases.map((r) => r.version), first.cursor], [['1.1.0'], '1.1.0'])
  const second = await adoption({ limit: 1, cursor: first.cursor })
  assert.equal([second.releases.map((r) => r.version), second.cursor], [['1.0.0'], undefined])
  await expectXrpcError(() => adoption({ cursor: 'not-a-version' }), 400, 'InvalidRequest')
  await expectXrpcError(() => adoption({ publisher: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
  assert.equal(await adoption(), a, 'refusals changed nothing')

  // a deactivated account's devices do not count (nor is its status shown), and count again once it is back
  await carol.agent.com.atproto.server.deactivateAccount({})
  assert.equal(counts(await adoption(), '1.0.0').completed, 0)
  await expectXrpcError(() => installStatus(carol), 400, 'RepoDeactivated')
  await carol.agent.com.atproto.server.activateAccount()
  assert.equal(counts(await adoption(), '1.0.0').completed, 1)
})

test("getInstallStatus: an account's installs per device, newest first, by release, at most `limit` each", async () => {
  const all = await installStatus(bob)
  assert.equal(all.devices.map((d) => d.device), ['bob-pc'])
  assert.equal(all.devices[0]!.installs.map((i) => [i.status, i.errorCode]), [['rolledBack', 'E_CRASH_ON_START'], ['failed', 'E_DISK_FULL']])
  assert.equal((await installStatus(bob, { limit: 1 })).devices[0]!.installs.length, 1)
  const alices = await installStatus(alice)
  assert.equal(alices.devices.map((d) => [d.device, d.installs[0]!.status]), [['alice-desktop', 'failed'], ['alice-laptop', 'completed']])
  assert.equal((await installStatus(alice, { release: r100.uri })).devices, [])
  assert.equal((await installStatus(carol, { release: r100.uri })).devices[0]!.installs[0]!.release.uri, r100.uri)
  await expectXrpcError(() => installStatus({ ...carol, did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
  await expectXrpcError(() => installStatus(carol, { release: `at://${publisher.did}/app.bsky.feed.post/3kabc` }), 400, 'InvalidRequest')
})

test('install records that name no release, or a version other than the release, are refused and nothing is written', async () => {
  const before = await installStatus(alice)
  const bad = async (fields: Record<string, unknown>, path: string) => {
    const err = await expectXrpcError(() => reportInstall(alice.agent, alice.did, { device: 'alice-laptop', status: 'pending', ...fields }), 400, 'InvalidRecord')
    assert.ok(err.message.includes(path), `${err.message} names ${path}`)
  }
  await bad({ release: r110, toVersion: '1.0.0' }, 'toVersion')
  await bad({ release: { uri: `at://${publisher.did}/app.bsky.feed.post/3kabc`, cid: r110.cid }, toVersion: '1.1.0' }, 'release/uri')
  await bad({ release: r110, toVersion: '1.1.0', fromVersion: 'latest' }, 'fromVersion')
  assert.equal(await installStatus(alice), before)
  const list = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: INSTALL })
  assert.is(list.data.records.length, 2)
})

test("a deleted account's install records go with it, from getAdoption too", async () => {
  await bob.agent.com.atproto.server.requestAccountDelete()
  const token = outboxToken(net.dataDir, 'account-delete', bob.did)
  await bob.agent.com.atproto.server.deleteAccount({ did: bob.did, password: bob.password, token })
  assert.equal(counts(await adoption(), '1.1.0'), { completed: 1, failed: 1, rolledBack: 0, inProgress: 0, failures: [{ errorCode: 'E_DISK_FULL', devices: 1 }] })
  const db = new Database(join(net.dataDir, 'carrel.sqlite'), { readonly: true })
  try {
    assert.is(db.prepare('SELECT count(*) FROM update_install WHERE did = ?').pluck().get(bob.did), 0)
    assert.is(db.prepare('SELECT count(*) FROM update_install WHERE did = ?').pluck().get(alice.did), 2, "others' rows stay")
  } finally {
    db.close()
  }
})

test.run()
