// app.bsky.actor.getPreferences / putPreferences (src/accounts/preferences.ts): kept here per
// account, never in the repo, validated by the lexicon, with the reference's rules for app
// passwords: personal details (birth date) only for a session of the account's own password;
// declaredAgePref is worked out from the birth date, never stored.
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { outboxFile, rawXrpc } from './_util.ts'

let net: TestNetwork
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>
let full: string
let plainApp: string
let privilegedApp: string

const ADULT = (enabled: boolean) => ({ $type: 'app.bsky.actor.defs#adultContentPref', enabled })
const FEEDS = { $type: 'app.bsky.actor.defs#savedFeedsPrefV2', items: [{ id: '3kabc', type: 'timeline', value: 'following', pinned: true }] }
const BIRTH = (birthDate: string) => ({ $type: 'app.bsky.actor.defs#personalDetailsPref', birthDate })

async function login(password: string): Promise<string> {
  const agent = net.agent()
  await agent.login({ identifier: alice.handle, password })
  return agent.session!.accessJwt
}

const get = (token: string) => rawXrpc(net.url, 'app.bsky.actor.getPreferences', { token })
const put = (token: string, preferences: unknown[]) => rawXrpc(net.url, 'app.bsky.actor.putPreferences', { token, body: { preferences } })

/** What is stored for the account, as the account's own password sees it. */
async function stored(): Promise<unknown[]> {
  const res = await get(full)
  assert.is(res.status, 200, JSON.stringify(res.body))
  return res.body.preferences
}

function yearsAgo(n: number): string {
  const d = new Date()
  d.setUTCFullYear(d.getUTCFullYear() - n)
  d.setUTCDate(d.getUTCDate() - 2)
  return `${d.toISOString().slice(0, 10)}T00:00:00.000Z`
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('alice')
  full = alice.agent.session!.accessJwt
  plainApp = await login((await alice.agent.com.atproto.server.createAppPassword({ name: 'plain' })).data.password)
  privilegedApp = await login((await alice.agent.com.atproto.server.createAppPassword({ name: 'priv', privileged: true })).data.password)
})

test.after(async () => {
  await net?.close()
})

test('an account starts with none; what is put comes back in its order, and nothing of it is in the repo', async () => {
  assert.equal(await stored(), [])
  const prefs = [FEEDS, ADULT(true), { $type: 'app.bsky.actor.defs#contentLabelPref', label: 'nsfw', visibility: 'warn' }]
  const res = await put(full, prefs)
  assert.is(res.status, 200, JSON.stringify(res.body))
  assert.equal(await stored(), prefs)
  // what an account moving away sees of its private state
  assert.is((await alice.agent.com.atproto.server.checkAccountStatus()).data.privateStateValues, 3)
  // a replacement replaces the whole list
  assert.is((await put(full, [ADULT(false)])).status, 200)
  assert.equal(await stored(), [ADULT(false)])
  const records = await rawXrpc(net.url, 'com.atproto.repo.describeRepo', { params: { repo: alice.did } })
  assert.equal(records.body.collections, [])
  // through @atproto/api
  const { data } = await alice.agent.app.bsky.actor.getPreferences()
  assert.equal(data.preferences, [ADULT(false)])
})

test('personal details: the own password reads and writes them and gets declaredAgePref; app passwords neither see nor replace them', async () => {
  assert.is((await put(full, [ADULT(true), BIRTH(yearsAgo(17))])).status, 200)
  const declared = { $type: 'app.bsky.actor.defs#declaredAgePref', isOverAge13: true, isOverAge16: true, isOverAge18: false }
  assert.equal(await stored(), [ADULT(true), BIRTH(yearsAgo(17)), declared])

  for (const token of [plainApp, privilegedApp]) {
    const seen = await get(token)
    assert.is(seen.status, 200)
    assert.equal(seen.body.preferences, [ADULT(true), declared], 'no birth date for an app password')
    const refused = await put(token, [ADULT(false), BIRTH('2001-01-01T00:00:00.000Z')])
    assert.is(refused.status, 400)
    assert.is(refused.body.error, 'InvalidRequest')
    assert.match(refused.body.message, /Do not have authorization to set preferences: app\.bsky\.actor\.defs#personalDetailsPref/)
    assert.equal(await stored(), [ADULT(true), BIRTH(yearsAgo(17)), declared], 'nothing changed')
  }
  // an app password replaces what it may see; the birth date stays as it was
  assert.is((await put(plainApp, [FEEDS])).status, 200)
  assert.equal(await stored(), [BIRTH(yearsAgo(17)), FEEDS, declared])
  // declaredAgePref is derived: one that is put is dropped, the birth date decides
  const lie = { $type: 'app.bsky.actor.defs#declaredAgePref', isOverAge13: true, isOverAge16: true, isOverAge18: true }
  assert.is((await put(full, [BIRTH(yearsAgo(40)), lie])).status, 200)
  assert.equal(await stored(), [BIRTH(yearsAgo(40)), { ...declared, isOverAge18: true }])
})

test('refused, with nothing changed: other namespaces, a malformed preference, a missing $type, no session', async () => {
  assert.is((await put(full, [ADULT(true)])).status, 200)
  const cases: [unknown, number, string, RegExp][] = [
    [{ preferences: [ADULT(false), { $type: 'com.example.pref', x: 1 }] }, 400, 'InvalidRequest', /not in the app\.bsky namespace/],
    [{ preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: 'yes' }] }, 400, 'InvalidRequest', /enabled/],
    [{ preferences: [{ enabled: false }] }, 400, 'InvalidRequest', /\$type/],
    [{ preferences: ADULT(false) }, 400, 'InvalidRequest', /preferences/],
    [{}, 400, 'InvalidRequest', /preferences/],
  ]
  for (const [body, status, error, message] of cases) {
    const res = await rawXrpc(net.url, 'app.bsky.actor.putPreferences', { token: full, body })
    assert.is(res.status, status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`)
    assert.is(res.body.error, error)
    assert.match(res.body.message, message)
    assert.equal(await stored(), [ADULT(true)])
  }
  const anonymous = await rawXrpc(net.url, 'app.bsky.actor.putPreferences', { body: { preferences: [] } })
  assert.is(anonymous.status, 401)
  assert.is(anonymous.body.error, 'AuthMissing')
  assert.is((await rawXrpc(net.url, 'app.bsky.actor.getPreferences')).status, 401)
  assert.equal(await stored(), [ADULT(true)])
})

test("one account's preferences are its own; a taken-down account may read but not write them", async () => {
  const bob = await net.createAccount('bob')
  const bobToken = bob.agent.session!.accessJwt
  assert.equal((await get(bobToken)).body.preferences, [])
  assert.is((await put(bobToken, [FEEDS])).status, 200)
  assert.equal(await stored(), [ADULT(true)])
  net.pds.ctx.accounts.setTakedown(bob.did, 'test-takedown')
  try {
    const res = await put(bobToken, [ADULT(true)])
    assert.is(res.status, 401)
    assert.is(res.body.error, 'AccountTakedown')
  } finally {
    net.pds.ctx.accounts.setTakedown(bob.did, null)
  }
  assert.equal((await get(bobToken)).body.preferences, [FEEDS])
})

test('preferences survive a restart and go with a deleted account', async () => {
  const carol = await net.createAccount('carol')
  assert.is((await put(carol.agent.session!.accessJwt, [FEEDS])).status, 200)
  await net.restart()
  const again = await net.agent()
  await again.login({ identifier: carol.handle, password: carol.password })
  assert.equal((await get(again.session!.accessJwt)).body.preferences, [FEEDS])
  await again.com.atproto.server.requestAccountDelete()
  const outbox = readFileSync(outboxFile(net.dataDir, 'account-delete', carol.did), 'utf8')
  const token = /^Token: (\S+)$/m.exec(outbox)![1]!
  await again.com.atproto.server.deleteAccount({ did: carol.did, password: carol.password, token })
  const rows = net.pds.ctx.db.sqlite.prepare('SELECT count(*) FROM account_preferences WHERE did = ?').pluck().get(carol.did)
  assert.is(rows, 0)
  // alice's are untouched
  full = await login(alice.password)
  assert.equal(await stored(), [ADULT(true)])
})

test.run()
