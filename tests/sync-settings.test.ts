// Settings from outside: one private, lexicon-validated, versioned document per account, written
// with compare-and-swap by several devices (clients with their own sessions) of one account.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectXrpcError, getRepoCar, rawXrpc } from './_util.ts'

type Doc = { version: number; settings: Record<string, unknown> }

let net: TestNetwork
let alice: { did: string; handle: string; password: string }
let laptop: AtpAgent
let phone: AtpAgent
let bob: AtpAgent

/** A device of the account: its own client and session. */
async function login(identifier: string, password: string): Promise<AtpAgent> {
  const agent = withCarrelLexicons(new AtpAgent({ service: net.url }))
  await agent.login({ identifier, password })
  return agent
}

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('settings-alice')
  alice = { did: a.did, handle: a.handle, password: a.password }
  laptop = await login(a.handle, a.password)
  phone = await login(a.handle, a.password)
  bob = withCarrelLexicons((await net.createAccount('settings-bob')).agent)
})

test.after(async () => {
  await net?.close()
})

async function getSettings(agent: AtpAgent): Promise<Doc> {
  return (await agent.call('app.carrel.sync.getSettings', {})).data as Doc
}

async function putSettings(agent: AtpAgent, version: number, settings: Record<string, unknown>): Promise<Doc> {
  return (await agent.call('app.carrel.sync.putSettings', {}, { version, settings })).data as Doc
}

test('before the first write: version 0, no settings', async () => {
  assert.equal(await getSettings(laptop), { version: 0, settings: {} })
})

test('compare-and-swap from two devices: the second write on a stale version is InvalidSwap with the current document', async () => {
  const readByLaptop = await getSettings(laptop)
  const readByPhone = await getSettings(phone)
  const laptopSettings = { theme: 'dark', sortOrder: 'title', sortDirection: 'ascending', syncIntervalSeconds: 300, coverSync: true }
  const written = await putSettings(laptop, readByLaptop.version, laptopSettings)
  assert.equal(written, { version: 1, settings: laptopSettings })

  // the phone read version 0 too: its write is refused, and the answer carries what the laptop wrote
  const token = phone.session!.accessJwt
  const refused = await rawXrpc(net.url, 'app.carrel.sync.putSettings', {
    body: { version: readByPhone.version, settings: { theme: 'light', coverSync: false } },
    token,
  })
  assert.is(refused.status, 400)
  assert.is(refused.body.error, 'InvalidSwap')
  assert.is(refused.body.version, 1)
  assert.equal(refused.body.settings, laptopSettings)
  await expectXrpcError(() => putSettings(phone, readByPhone.version, { theme: 'light' }), 400, 'InvalidSwap')
  assert.equal(await getSettings(laptop), written, 'the refused writes changed nothing')

  // the phone merges and writes on the current version
  const merged = await putSettings(phone, refused.body.version, { ...refused.body.settings, coverSync: false })
  assert.equal(merged, { version: 2, settings: { ...laptopSettings, coverSync: false } })
  assert.equal(await getSettings(laptop), merged)
  // a version from the future is just as stale
  await expectXrpcError(() => putSettings(laptop, 7, { theme: 'system' }), 400, 'InvalidSwap')
  assert.equal(await getSettings(phone), merged)
})

test('concurrent writes on the same version: exactly one wins', async () => {
  const { version } = await getSettings(laptop)
  const devices = [laptop, phone, await login(alice.handle, alice.password), await login(alice.did, alice.password)]
  const results = await Promise.allSettled(devices.map((d, i) => putSettings(d, version, { theme: 'dark', defaultShelf: `shelf ${i}` })))
  const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Doc>[]
  const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
  assert.is(won.length, 1)
  assert.is(lost.length, devices.length - 1)
  for (const r of lost) assert.is((r.reason as { error: string }).error, 'InvalidSwap')
  assert.equal(await getSettings(phone), won[0]!.value)
  assert.is(won[0]!.value.version, version + 1)
})

test('settings are validated against the lexicon; refused ones change nothing', async () => {
  const current = await getSettings(laptop)
  const token = laptop.session!.accessJwt
  const bad: unknown[] = [
    { version: current.version, settings: { theme: 'x'.repeat(33) } },
    { version: current.version, settings: { syncIntervalSeconds: -1 } },
    { version: current.version, settings: { syncIntervalSeconds: 86401 } },
    { version: current.version, settings: { sortDirection: 'sideways' } },
    { version: current.version, settings: { coverSync: 'yes' } },
    { version: current.version, settings: { language: 'not a language' } },
    { version: current.version, settings: { defaultShelf: 's'.repeat(65) } },
    { version: current.version, settings: 'dark' },
    { version: current.version },
    { settings: { theme: 'dark' } },
    { version: -1, settings: {} },
  ]
  for (const body of bad) {
    const res = await rawXrpc(net.url, 'app.carrel.sync.putSettings', { body, token })
    assert.is(res.status, 400, JSON.stringify(body))
    assert.is(res.body.error, 'InvalidRequest', JSON.stringify(body))
  }
  // floats are not atproto data
  const float = await fetch(`${net.url}/xrpc/app.carrel.sync.putSettings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: `{"version":${current.version},"settings":{"syncIntervalSeconds":1.5}}`,
  })
  assert.is(float.status, 400)
  assert.equal(await getSettings(laptop), current)
})

test('fields this server does not know yet are kept, within SettingsTooLarge', async () => {
  const current = await getSettings(laptop)
  const newer = { theme: 'sepia', readerFont: { family: 'Literata', size: 17 }, pinnedShelves: ['a', 'b'] }
  const written = await putSettings(laptop, current.version, newer)
  assert.equal(written.settings, newer)
  assert.equal(await getSettings(phone), written)

  const tooLarge = { theme: 'dark', notes: 'n'.repeat(64 * 1024) }
  const res = await rawXrpc(net.url, 'app.carrel.sync.putSettings', {
    body: { version: written.version, settings: tooLarge },
    token: laptop.session!.accessJwt,
  })
  assert.is(res.status, 400)
  assert.is(res.body.error, 'SettingsTooLarge')
  assert.equal(await getSettings(laptop), written, 'unchanged')
})

test('settings are private: not in the repo, not visible to another account', async () => {
  const before = await getRepoCar(net.url, alice.did)
  const current = await getSettings(laptop)
  await putSettings(laptop, current.version, { theme: 'dark', defaultShelf: 'Secret shelf' })
  assert.equal(Buffer.from(await getRepoCar(net.url, alice.did)), Buffer.from(before), 'the repo is byte for byte the same')

  // bob has settings of his own, and never sees alice's
  assert.equal(await getSettings(bob), { version: 0, settings: {} })
  await putSettings(bob, 0, { theme: 'light' })
  assert.equal(await getSettings(bob), { version: 1, settings: { theme: 'light' } })
  assert.is((await getSettings(laptop)).settings.defaultShelf, 'Secret shelf')
  const anonymous = await rawXrpc(net.url, 'app.carrel.sync.getSettings')
  assert.is(anonymous.status, 401)
  assert.is(anonymous.body.error, 'AuthMissing')
  assert.not.ok(JSON.stringify(anonymous.body).includes('Secret'))
})

test.run()
