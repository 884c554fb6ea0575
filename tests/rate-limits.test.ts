// The rate-limit layer (src/xrpc/rate-limit) against a real server and PLC: the per-address limit
// on every /xrpc/ call, the repo write points per account, createSession's attempt limits, the
// always-on createAccount and failed-login limits, bypasses, the switch, and the memory bound
// under address rotation. Client addresses are set with X-Forwarded-For (believed from loopback).
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../src/config.ts'
import { loadLexicons } from '../src/lexicons.ts'
import { XrpcRouter } from '../src/xrpc/router.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { getRepoCar, rawXrpc, type RawResponse } from './_util.ts'

const call = rawXrpc
const BYPASS_KEY = 'let-this-caller-through-please'
const GLOBAL_WINDOW_MS = 2000

/** limits on: 5 calls per address in 2 s, 12 write points per account a day, 2 createAccount per address, 200 keys per limit */
let limited: TestNetwork
/** limits on, reference defaults except 12 write points per account an hour */
let writes: TestNetwork
/** the switch off, with limits set low to show they do not apply */
let off: TestNetwork

test.before(async () => {
  ;[limited, writes, off] = await Promise.all([
    startNetwork({
      PDS_RATE_LIMITS_ENABLED: 'true',
      PDS_RATE_LIMIT_GLOBAL_PER_IP: '5',
      PDS_RATE_LIMIT_GLOBAL_WINDOW_MS: String(GLOBAL_WINDOW_MS),
      PDS_RATE_LIMIT_WRITE_POINTS_PER_DAY: '12',
      PDS_RATE_LIMIT_BYPASS_KEY: BYPASS_KEY,
      // the test's own set-up calls come from loopback
      PDS_RATE_LIMIT_BYPASS_IPS: '127.0.0.1,::1,203.0.113.0/24',
      PDS_RATE_LIMIT_MAX_KEYS: '200',
      PDS_CREATE_ACCOUNT_RATE_LIMIT_PER_IP: '2',
    }),
    startNetwork({ PDS_RATE_LIMITS_ENABLED: 'true', PDS_RATE_LIMIT_WRITE_POINTS_PER_HOUR: '12' }),
    startNetwork({
      PDS_RATE_LIMIT_GLOBAL_PER_IP: '2',
      PDS_RATE_LIMIT_WRITE_POINTS_PER_HOUR: '3',
      PDS_CREATE_ACCOUNT_RATE_LIMIT_PER_IP: '3',
    }),
  ])
})

test.after(async () => {
  await Promise.all([limited?.close(), writes?.close(), off?.close()])
})

let ipCounter = 0
/** a client address no other call in this file uses */
const freshIp = () => `198.18.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`

const header = (r: RawResponse | Response, name: string) => r.headers.get(name)

function assertPolicy(r: RawResponse, limit: number, windowSec: number, remaining?: number): void {
  assert.is(header(r, 'ratelimit-limit'), String(limit), 'RateLimit-Limit')
  assert.is(header(r, 'ratelimit-policy'), `${limit};w=${windowSec}`, 'RateLimit-Policy')
  if (remaining !== undefined) assert.is(header(r, 'ratelimit-remaining'), String(remaining), 'RateLimit-Remaining')
}

function assertRefused(r: RawResponse, limit: number, windowSec: number, remaining: number): void {
  assert.is(r.status, 429, JSON.stringify(r.body))
  assert.is(r.body.error, 'RateLimitExceeded')
  assert.type(r.body.message, 'string')
  assertPolicy(r, limit, windowSec, remaining)
  const nowSec = Date.now() / 1000
  const reset = Number(header(r, 'ratelimit-reset'))
  assert.ok(reset >= Math.floor(nowSec) - 1 && reset <= nowSec + windowSec + 1, `RateLimit-Reset ${reset} is epoch seconds within the window`)
  const retryAfter = Number(header(r, 'retry-after'))
  assert.ok(retryAfter >= 1 && retryAfter <= windowSec + 1, `Retry-After ${retryAfter}`)
}

const describe = (n: TestNetwork, ip: string) => call(n.url, 'com.atproto.server.describeServer', { ip })

/** n calls from one address at once; the window (2 s) is far longer than such a burst takes */
const burst = (n: TestNetwork, ip: string, count: number) => Promise.all(Array.from({ length: count }, () => describe(n, ip)))

async function latestRev(n: TestNetwork, did: string): Promise<string> {
  const r = await call(n.url, 'com.atproto.sync.getLatestCommit', { params: { did } })
  assert.is(r.status, 200)
  return r.body.rev
}

async function recordCount(n: TestNetwork, did: string, collection: string): Promise<number> {
  const r = await call(n.url, 'com.atproto.repo.listRecords', { params: { repo: did, collection, limit: '100' } })
  assert.is(r.status, 200)
  return r.body.records.length
}

const NOTE = 'app.carrel.test.note'
const note = (text: string) => ({ $type: NOTE, text, createdAt: new Date().toISOString() })
const create = (n: TestNetwork, token: string, did: string, rkey: string, ip = freshIp()) =>
  call(n.url, 'com.atproto.repo.createRecord', { token, ip, body: { repo: did, collection: NOTE, rkey, record: note(rkey), validate: false } })

async function session(n: TestNetwork, name: string): Promise<{ did: string; token: string; handle: string; password: string }> {
  const a = await n.createAccount(name)
  return { did: a.did, token: a.agent.session!.accessJwt, handle: a.handle, password: a.password }
}

// ---- the per-address limit on every call ----

test('every /xrpc/ call counts against its client address: past the limit 429 RateLimitExceeded with RateLimit-* headers; answers carry them too; other addresses and _health are not affected', async () => {
  const ip = freshIp()
  const answers = await burst(limited, ip, 6)
  const ok = answers.filter((r) => r.status === 200)
  const refused = answers.filter((r) => r.status !== 200)
  assert.is(ok.length, 5)
  assert.is(refused.length, 1)
  for (const r of ok) assertPolicy(r, 5, 2)
  assert.equal(ok.map((r) => Number(header(r, 'ratelimit-remaining'))).sort((a, b) => a - b), [0, 1, 2, 3, 4])
  assertRefused(refused[0]!, 5, 2, 0)
  // a method this server does not have counts too, and is refused alike
  assertRefused(await call(limited.url, 'com.example.nothing.here', { ip }), 5, 2, 0)
  // another address has its own budget
  const other = await describe(limited, freshIp())
  assert.is(other.status, 200)
  assertPolicy(other, 5, 2, 4)
  // health checks are not limited
  const health = await fetch(`${limited.url}/xrpc/_health`, { headers: { 'x-forwarded-for': ip } })
  assert.is(health.status, 200)
})

test('the per-address limit resets after its window (2 s in this test)', async () => {
  const ip = freshIp()
  const refused = (await burst(limited, ip, 6)).find((r) => r.status === 429)
  assert.ok(refused, 'the sixth call in the window is refused')
  // wait for the time the refusal names (at most the 2 s window)
  await new Promise((r) => setTimeout(r, Number(header(refused, 'retry-after')) * 1000 + 50))
  const again = await describe(limited, ip)
  assert.is(again.status, 200)
  assertPolicy(again, 5, 2, 4)
})

test('IPv6 clients are counted per /64: addresses in one /64 share a budget, the next /64 has its own', async () => {
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => describe(limited, `2001:db8:77:1::${i + 1}`)))
  assert.equal(answers.map((r) => r.status), [200, 200, 200, 200, 200])
  assertRefused(await describe(limited, '2001:db8:77:1:ffff:ffff:ffff:ffff'), 5, 2, 0)
  assert.is((await describe(limited, '2001:db8:77:2::1')).status, 200)
})

test('a write refused by the per-address limit changes nothing (the body is not even read)', async () => {
  const alice = await session(limited, 'rl-alice')
  const revBefore = await latestRev(limited, alice.did)
  const carBefore = await getRepoCar(limited.url, alice.did)
  const ip = freshIp()
  await burst(limited, ip, 5)
  const refused = await create(limited, alice.token, alice.did, 'refused', ip)
  assertRefused(refused, 5, 2, 0)
  assert.is(await latestRev(limited, alice.did), revBefore)
  assert.equal(await getRepoCar(limited.url, alice.did), carBefore)
  const get = await call(limited.url, 'com.atproto.repo.getRecord', { params: { repo: alice.did, collection: NOTE, rkey: 'refused' } })
  assert.is(get.status, 400)
  assert.is(get.body.error, 'RecordNotFound')
})

test('bypass: the right x-ratelimit-bypass key and an address in PDS_RATE_LIMIT_BYPASS_IPS are not limited; a wrong key is', async () => {
  const ip = freshIp()
  await burst(limited, ip, 5)
  const withKey = (key: string) =>
    fetch(`${limited.url}/xrpc/com.atproto.server.describeServer`, { headers: { 'x-forwarded-for': ip, 'x-ratelimit-bypass': key } })
  for (let i = 0; i < 3; i++) {
    const r = await withKey(BYPASS_KEY)
    assert.is(r.status, 200)
    assert.is(r.headers.get('ratelimit-limit'), null, 'a bypassed call is not counted')
  }
  const wrong = await withKey(BYPASS_KEY + 'x')
  assert.is(wrong.status, 429)
  assert.is(((await wrong.json()) as any).error, 'RateLimitExceeded')
  // 203.0.113.0/24 is listed: a whole burst goes through uncounted
  const trusted = await burst(limited, '203.0.113.50', 12)
  assert.equal([...new Set(trusted.map((r) => r.status))], [200])
  assert.ok(trusted.every((r) => header(r, 'ratelimit-limit') === null))
  // the next address over is not
  assert.is((await burst(limited, '203.0.114.50', 6)).filter((r) => r.status === 429).length, 1)
})

test('address rotation: past PDS_RATE_LIMIT_MAX_KEYS (200 here) the least recently seen address is forgotten, so memory stays bounded; it can only loosen a limit', async () => {
  // createAccount's limit (2 per address in 5 minutes here) shows it: its window cannot run out during the test
  const attempt = (ip: string) => call(limited.url, 'com.atproto.server.createAccount', { ip, body: { handle: 'rl-rotation.test', password: 'password123' } })
  const first = freshIp()
  for (let i = 0; i < 2; i++) assert.is((await attempt(first)).status, 400)
  assertRefused(await attempt(first), 2, 300, 0)
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  // two rounds of rotated addresses: with the keys bounded the second round adds next to nothing
  const rotated = 3000
  const round = async (offset: number) => {
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = offset; i < offset + rotated; i += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, j) => attempt(`2001:db8:${(i + j).toString(16)}:5::1`)))
      for (const r of answers) assert.is(r.status, 400, JSON.stringify(r.body))
    }
    gc()
    return (process.memoryUsage().heapUsed - before) / 1024
  }
  const firstRound = await round(0)
  const secondRound = await round(rotated)
  console.log(
    `[figure] createAccount from rotating /64s, bound 200 keys per limit: heap +${firstRound.toFixed(0)} KiB over the first ${rotated} addresses, +${secondRound.toFixed(0)} KiB over the next ${rotated} (server and client share this process; bench/rate-limit.ts measures the layer alone)`,
  )
  // the first address was pushed out: its count starts again (rotation already gives fresh budgets)
  const again = await attempt(first)
  assert.is(again.status, 400)
  assertPolicy(again, 2, 300, 1)
})

test('write points per account per day (12 here): 4 creates fit, the fifth is refused naming the daily policy', async () => {
  const dora = await session(limited, 'rl-dora')
  for (let i = 0; i < 4; i++) assert.is((await create(limited, dora.token, dora.did, `d${i}`)).status, 200)
  assertRefused(await create(limited, dora.token, dora.did, 'd4'), 12, 86400, 0)
  assert.is(await recordCount(limited, dora.did, NOTE), 4)
})

// ---- repo write points per account ----

test('write points per account per hour: create 3, update 2, delete 1, applyWrites the sum of its ops; a refused write changes nothing and costs nothing', async () => {
  const bob = await session(writes, 'rl-bob')
  const hour = 3600
  const r1 = await create(writes, bob.token, bob.did, 'r1')
  assert.is(r1.status, 200, JSON.stringify(r1.body))
  assertPolicy(r1, 12, hour, 9)
  const put = await call(writes.url, 'com.atproto.repo.putRecord', {
    token: bob.token,
    ip: freshIp(),
    body: { repo: bob.did, collection: NOTE, rkey: 'r1', record: note('r1 again'), validate: false },
  })
  assert.is(put.status, 200, JSON.stringify(put.body))
  assertPolicy(put, 12, hour, 7)
  const applyWrites = (writesList: unknown[]) =>
    call(writes.url, 'com.atproto.repo.applyWrites', { token: bob.token, ip: freshIp(), body: { repo: bob.did, validate: false, writes: writesList } })
  const both = await applyWrites([
    { $type: 'com.atproto.repo.applyWrites#create', collection: NOTE, rkey: 'r2', value: note('r2') },
    { $type: 'com.atproto.repo.applyWrites#update', collection: NOTE, rkey: 'r1', value: note('r1 third') },
  ])
  assert.is(both.status, 200, JSON.stringify(both.body))
  assertPolicy(both, 12, hour, 2)

  // 2 points left: a batch costing 4 (delete 1 + create 3) is refused as a whole
  const revBefore = await latestRev(writes, bob.did)
  const carBefore = await getRepoCar(writes.url, bob.did)
  const refused = await applyWrites([
    { $type: 'com.atproto.repo.applyWrites#delete', collection: NOTE, rkey: 'r2' },
    { $type: 'com.atproto.repo.applyWrites#create', collection: NOTE, rkey: 'r3', value: note('r3') },
  ])
  assertRefused(refused, 12, hour, 2)
  assert.is(await latestRev(writes, bob.did), revBefore)
  assert.equal(await getRepoCar(writes.url, bob.did), carBefore)
  assert.is(await recordCount(writes, bob.did, NOTE), 2)

  // the refusal cost nothing: a delete (1) still fits, then a create (3) does not
  const del = await call(writes.url, 'com.atproto.repo.deleteRecord', { token: bob.token, ip: freshIp(), body: { repo: bob.did, collection: NOTE, rkey: 'r2' } })
  assert.is(del.status, 200, JSON.stringify(del.body))
  assertPolicy(del, 12, hour, 1)
  assertRefused(await create(writes, bob.token, bob.did, 'r4'), 12, hour, 1)
  assert.is(await recordCount(writes, bob.did, NOTE), 1)
})

test("one account's burst does not limit another account's writes, from the same address", async () => {
  const carol = await session(writes, 'rl-carol')
  const dave = await session(writes, 'rl-dave')
  const ip = freshIp()
  const carolBurst = await Promise.all(Array.from({ length: 6 }, (_, i) => create(writes, carol.token, carol.did, `c${i}`, ip)))
  assert.is(carolBurst.filter((r) => r.status === 200).length, 4)
  for (const r of carolBurst.filter((r) => r.status !== 200)) assertRefused(r, 12, 3600, 0)
  const daves = await create(writes, dave.token, dave.did, 'd0', ip)
  assert.is(daves.status, 200, JSON.stringify(daves.body))
  assertPolicy(daves, 12, 3600, 9)
})

test('createSession: 30 attempts per identifier and address in 5 minutes (successes count, as in the reference); other addresses and identifiers are not affected', async () => {
  const erin = await session(writes, 'rl-erin')
  const ip = freshIp()
  const login = (identifier: string, from = ip) => call(writes.url, 'com.atproto.server.createSession', { ip: from, body: { identifier, password: erin.password } })
  let last: RawResponse | undefined
  for (let i = 0; i < 30; i++) {
    last = await login(erin.handle)
    assert.is(last.status, 200, JSON.stringify(last.body))
  }
  assertPolicy(last!, 30, 300, 0)
  assertRefused(await login(erin.handle), 30, 300, 0)
  assert.is((await login(erin.handle, freshIp())).status, 200)
  assert.is((await login(erin.did)).status, 200, 'counted per identifier as sent')
  // a client-chosen identifier of any length is kept as a short key, and still counted as one
  const long = 'x'.repeat(100_000) + '.test'
  const firstLong = await login(long)
  assert.is(firstLong.status, 401)
  assertPolicy(firstLong, 30, 300, 29)
  assertPolicy(await login(long), 30, 300, 28)
})

// ---- the switch off; the limits that stay on ----

test('PDS_RATE_LIMITS_ENABLED off: no per-address or write limits; createAccount stays limited per address, now with the RateLimit-* headers', async () => {
  const fay = await session(off, 'rl-fay')
  const ip = freshIp()
  const calls = await burst(off, ip, 6)
  assert.equal([...new Set(calls.map((r) => r.status))], [200])
  assert.ok(calls.every((r) => header(r, 'ratelimit-limit') === null))
  // 3 write points an hour are configured, and 4 creates (12 points) go through
  for (let i = 0; i < 4; i++) assert.is((await create(off, fay.token, fay.did, `f${i}`, ip)).status, 200)
  // createAccount: 3 per address here; each attempt refused for a missing email still counts
  const attempt = (n: number) => call(off.url, 'com.atproto.server.createAccount', { ip, body: { handle: `rl-new${n}.test`, password: 'password123' } })
  for (let i = 0; i < 3; i++) {
    const r = await attempt(i)
    assert.is(r.status, 400)
    assertPolicy(r, 3, 300, 2 - i)
  }
  const accountsBefore = (off.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account').get() as { n: number }).n
  const refused = await call(off.url, 'com.atproto.server.createAccount', { ip, body: { handle: 'rl-new9.test', email: 'rl-new9@mail.test', password: 'password123' } })
  assertRefused(refused, 3, 300, 0)
  assert.is((off.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account').get() as { n: number }).n, accountsBefore)
})

test('failed logins (always on): the 429 carries the RateLimit-* headers of the limit that refused', async () => {
  const gus = await session(off, 'rl-gus')
  const ip = freshIp()
  for (let i = 0; i < 10; i++) {
    const r = await call(off.url, 'com.atproto.server.createSession', { ip, body: { identifier: gus.handle, password: 'wrong password!' } })
    assert.is(r.status, 401)
  }
  const refused = await call(off.url, 'com.atproto.server.createSession', { ip, body: { identifier: gus.handle, password: gus.password } })
  assertRefused(refused, 10, 300, 0)
})

test('resetPassword and requestPasswordReset get the reference limits when registered without their own; a method declaring its own keeps them', async () => {
  const router = new XrpcRouter((await loadLexicons()).lexicons)
  const handler = () => undefined
  router.method('com.atproto.server.resetPassword', { handler })
  router.method('com.atproto.server.requestPasswordReset', { handler })
  const own = [{ points: 1, durationMs: 1000 }]
  router.method('com.atproto.server.requestEmailUpdate', { handler, rateLimit: own })
  const declared = (nsid: string) => router.routes.get(nsid)!.config.rateLimit?.map((l) => ('points' in l ? `${l.points}/${l.durationMs / 1000}s` : l.shared))
  assert.equal(declared('com.atproto.server.resetPassword'), ['50/300s'])
  assert.equal(declared('com.atproto.server.requestPasswordReset'), ['15/3600s', '50/86400s'])
  assert.equal(declared('com.atproto.server.requestEmailUpdate'), ['1/1s'])
})

test('PDS_RATE_LIMIT_BYPASS_IPS: a malformed entry refuses start-up, naming the variable; addresses and CIDR ranges are taken', async () => {
  const base = { PDS_DATA_DIRECTORY: limited.dataDir, PDS_JWT_SECRET: 'x'.repeat(32), PDS_ADMIN_PASSWORD: 'y'.repeat(32), PDS_DID_PLC_URL: limited.plc.url }
  for (const bad of ['not-an-ip', '10.0.0.0/33', '10.0.0.1/8/1', '2001:db8::/129']) {
    try {
      await loadConfig({ ...base, PDS_RATE_LIMIT_BYPASS_IPS: `127.0.0.1, ${bad}` })
      assert.unreachable(`accepted ${bad}`)
    } catch (err) {
      assert.match((err as Error).message, /^PDS_RATE_LIMIT_BYPASS_IPS: /)
      assert.not.match((err as Error).message, bad)
    }
  }
  const cfg = await loadConfig({ ...base, PDS_RATE_LIMIT_BYPASS_IPS: '127.0.0.1, 10.0.0.0/8,2001:db8::/32' })
  assert.equal(cfg.rateLimits.bypassIps, ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32'])
  assert.is(cfg.rateLimits.enabled, false, 'off unless set, as in the reference')
})

test.run()
