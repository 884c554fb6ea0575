// com.atproto.identity.updateHandle through @atproto/api against a real PLC directory: to a name
// under our domain and to a custom domain proved by DNS TXT (a name server of the test's own);
// the DID document, the account, resolveHandle, /.well-known/atproto-did and the firehose's
// #identity after each change; every refusal changes nothing and emits nothing; a race for one
// handle, a failing PLC directory and the per-account limit. The PLC directory is reached
// through a proxy that can hold requests back or fail them.
import dns from 'node:dns'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type Frame, identityOf, RawSubscriber, StreamChecker } from './_firehose.ts'
import { startTxtDnsServer, type DnsServer } from './_dns-server.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { startPlcProxy, type PlcProxy } from './_plc-proxy.ts'
import { expectXrpcError, plcData, rawXrpc, wellKnownDid } from './_util.ts'

const ZONE = 'handle-change.net'
let dnsServer: DnsServer
let proxy: PlcProxy
let net: TestNetwork
let sub: RawSubscriber
/** `_atproto.<name>` -> TXT records */
const txt = new Map<string, string[][]>()

test.before(async () => {
  dnsServer = await startTxtDnsServer(txt)
  // the server's resolvers take the process's DNS servers when they are made
  dns.setServers([dnsServer.address])
  proxy = await startPlcProxy()
  net = await startNetwork({ PDS_DID_PLC_URL: proxy.url })
  proxy.target = net.plc.url
  sub = await RawSubscriber.connect(net.url)
})

test.after(async () => {
  await sub?.close()
  await net?.close()
  await proxy?.close()
  await dnsServer?.close()
})

async function plcOpCount(did: string): Promise<number> {
  return ((await (await fetch(`${net.plc.url}/${did}/log/audit`)).json()) as unknown[]).length
}

const wellKnown = (host: string) => wellKnownDid(net.url, host)


/** The seq of the last event sequenced so far: events after an action have a higher one. */
const seqNow = () => net.pds.ctx.sequencer.currentSeq()

/** The first #identity of `did` sequenced after `after`, as the subscriber received it. */
async function nextIdentity(did: string, after: number): Promise<Frame> {
  const match = (f: Frame) => identityOf(did)(f) && f.body.seq > after
  const frames = await sub.waitFor((fs) => fs.some(match), 10_000, `#identity of ${did}`)
  return frames.find(match)!
}

/**
 * Runs `fn` (expected to change nothing), then creates an account as a marker, and returns the
 * events sequenced in between: an event `fn` caused would come before the marker's.
 */
async function eventsDuring(fn: () => Promise<unknown>): Promise<Frame[]> {
  const after = seqNow()
  await fn()
  const marker = await net.createAccount()
  const markerEvt = await nextIdentity(marker.did, after)
  return sub.frames.filter((f) => f.body.seq > after && f.body.seq < markerEvt.body.seq)
}

/** What a refused change must leave alone: the account's handle, its DID document, its events. */
async function assertUnchanged(account: TestAccount, fn: () => Promise<unknown>) {
  const dataBefore = await plcData(net.plc.url, account.did)
  const opsBefore = await plcOpCount(account.did)
  const during = await eventsDuring(fn)
  assert.equal(
    during.filter((f) => f.body.did === account.did).map((f) => f.header.t),
    [],
    'no event for the account',
  )
  assert.equal(await plcData(net.plc.url, account.did), dataBefore, 'DID document unchanged')
  assert.is(await plcOpCount(account.did), opsBefore, 'no PLC operation')
  assert.is((await account.agent.com.atproto.server.getSession()).data.handle, account.handle, 'account handle unchanged')
  const resolved = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: account.handle } })
  assert.equal(resolved.body, { did: account.did })
}

test('to another name under our domain: DID document, account, resolution, well-known and #identity follow; the old name is free at once', async () => {
  const alice = await net.createAccount('alice')
  const after = seqNow()
  await alice.agent.com.atproto.identity.updateHandle({ handle: 'alice-renamed.test' })

  assert.equal((await plcData(net.plc.url, alice.did)).alsoKnownAs, ['at://alice-renamed.test'])
  assert.is((await alice.agent.com.atproto.server.getSession()).data.handle, 'alice-renamed.test')
  const evt = await nextIdentity(alice.did, after)
  assert.equal(evt.header, { op: 1, t: '#identity' })
  assert.equal(Object.keys(evt.body).sort(), ['did', 'handle', 'seq', 'time'])
  assert.is(evt.body.handle, 'alice-renamed.test')

  const agent = net.agent()
  assert.is((await agent.com.atproto.identity.resolveHandle({ handle: 'alice-renamed.test' })).data.did, alice.did)
  await expectXrpcError(() => agent.com.atproto.identity.resolveHandle({ handle: alice.handle }), 400, 'HandleNotFound')
  assert.equal(await wellKnown('alice-renamed.test'), { status: 200, body: alice.did })
  assert.is((await wellKnown(alice.handle)).status, 404)
  const described = await agent.com.atproto.repo.describeRepo({ repo: alice.did })
  assert.is(described.data.handle, 'alice-renamed.test')
  assert.is(described.data.handleIsCorrect, true)

  // the old name is free: a new account takes it
  const newcomer = await net.agent().createAccount({ handle: alice.handle, email: 'newcomer@mail.test', password: 'newcomer password 1' })
  assert.is(newcomer.data.handle, alice.handle)
  assert.is((await agent.com.atproto.identity.resolveHandle({ handle: alice.handle })).data.did, newcomer.data.did)
  // and logging in with the new handle works
  await net.agent().login({ identifier: 'alice-renamed.test', password: alice.password })
})

test('to a custom domain whose DNS TXT names the account: accepted, and the domain is served by well-known', async () => {
  const bob = await net.createAccount('bob')
  const handle = `bob.${ZONE}`
  txt.set(`_atproto.${handle}`, [[`did=${bob.did}`]])
  const after = seqNow()
  await bob.agent.com.atproto.identity.updateHandle({ handle: handle.toUpperCase() })
  assert.equal((await plcData(net.plc.url, bob.did)).alsoKnownAs, [`at://${handle}`])
  assert.is((await bob.agent.com.atproto.server.getSession()).data.handle, handle)
  assert.is((await nextIdentity(bob.did, after)).body.handle, handle)
  assert.equal(await wellKnown(handle), { status: 200, body: bob.did })
  assert.is((await wellKnown(bob.handle)).status, 404)
  const identity = await net.agent().com.atproto.identity.resolveIdentity({ identifier: bob.did })
  assert.is(identity.data.handle, handle)
})

test('a custom domain set up just before the change is seen, though an earlier lookup found nothing', async () => {
  const carol = await net.createAccount('carol')
  const handle = `carol.${ZONE}`
  // someone resolves it before the record exists: "not found" is cached
  await expectXrpcError(() => net.agent().com.atproto.identity.resolveHandle({ handle }), 400, 'HandleNotFound')
  txt.set(`_atproto.${handle}`, [[`did=${carol.did}`]])
  await carol.agent.com.atproto.identity.updateHandle({ handle })
  assert.is((await carol.agent.com.atproto.server.getSession()).data.handle, handle)
})

test('a custom domain that does not resolve to the account is refused, and nothing changes', async () => {
  const dave = await net.createAccount('dave')
  const other = await net.createAccount('other')
  txt.set(`_atproto.elsewhere.${ZONE}`, [[`did=${other.did}`]])
  for (const handle of [`nothing.${ZONE}`, `elsewhere.${ZONE}`]) {
    await assertUnchanged(dave, async () => {
      const res = await expectXrpcError(() => dave.agent.com.atproto.identity.updateHandle({ handle }), 400, 'InvalidRequest')
      assert.is(res.message, 'External handle did not resolve to DID')
    })
  }
})

test("another account's handle is HandleNotAvailable; bad and reserved handles get the createAccount errors; nothing changes", async () => {
  const erin = await net.createAccount('erin')
  const frank = await net.createAccount('frank')
  const refusals: [string, string][] = [
    [frank.handle, 'HandleNotAvailable'],
    [frank.handle.toUpperCase(), 'HandleNotAvailable'],
    ['admin.test', 'HandleNotAvailable'],
    ['ab.test', 'InvalidHandle'],
    ['a.b.test', 'InvalidHandle'],
    [`${'x'.repeat(19)}.test`, 'InvalidHandle'],
    ['erin.local', 'InvalidHandle'],
    ['erin.example', 'InvalidHandle'],
    ['handle.invalid', 'HandleNotAvailable'],
  ]
  await assertUnchanged(erin, async () => {
    for (const [handle, error] of refusals) {
      const res = await rawXrpc(net.url, 'com.atproto.identity.updateHandle', {
        token: erin.agent.session!.accessJwt,
        body: { handle },
      })
      assert.is(res.status, 400, handle)
      assert.is(res.body.error, error, `${handle}: ${JSON.stringify(res.body)}`)
    }
    // not a handle at all: the lexicon's format check
    const bad = await rawXrpc(net.url, 'com.atproto.identity.updateHandle', {
      token: erin.agent.session!.accessJwt,
      body: { handle: 'not a handle' },
    })
    assert.is(bad.status, 400)
    assert.is(bad.body.error, 'InvalidRequest')
  })
  // frank keeps his
  assert.equal(await wellKnown(frank.handle), { status: 200, body: frank.did })
})

test('no session: 401; a deactivated account: AccountDeactivated; nothing changes', async () => {
  const gina = await net.createAccount('gina')
  await assertUnchanged(gina, async () => {
    const anonymous = await rawXrpc(net.url, 'com.atproto.identity.updateHandle', { body: { handle: 'gina2.test' } })
    assert.is(anonymous.status, 401)
    assert.is(anonymous.body.error, 'AuthMissing')
    const forged = await rawXrpc(net.url, 'com.atproto.identity.updateHandle', { token: 'not.a.jwt', body: { handle: 'gina2.test' } })
    assert.is(forged.status, 400)
    assert.is(forged.body.error, 'InvalidToken')
  })
  net.pds.ctx.accounts.setDeactivated(gina.did, new Date().toISOString())
  try {
    const dataBefore = await plcData(net.plc.url, gina.did)
    await expectXrpcError(() => gina.agent.com.atproto.identity.updateHandle({ handle: 'gina2.test' }), 400, 'AccountDeactivated')
    assert.equal(await plcData(net.plc.url, gina.did), dataBefore)
    assert.is(net.pds.ctx.accounts.getByDid(gina.did)!.handle, gina.handle)
  } finally {
    net.pds.ctx.accounts.setDeactivated(gina.did, null)
  }
})

test('the same handle again: no new PLC operation, one more #identity (a prod to re-resolve)', async () => {
  const hank = await net.createAccount('hank')
  const ops = await plcOpCount(hank.did)
  const after = seqNow()
  await hank.agent.com.atproto.identity.updateHandle({ handle: hank.handle })
  assert.is(await plcOpCount(hank.did), ops)
  assert.is((await nextIdentity(hank.did, after)).body.handle, hank.handle)
})

test('two accounts racing for one handle: one gets it, the other HandleNotAvailable with its DID document put back', async () => {
  const ivy = await net.createAccount('ivy')
  const jay = await net.createAccount('jay')
  const target = 'contested.test'
  // both must pass the "is it taken" check before either commits: hold each one's first PLC
  // request until both have asked
  const waiting: (() => void)[] = []
  proxy.hold = ({ path }) => {
    if (!path.endsWith('/log/last') || !(path.includes(ivy.did) || path.includes(jay.did))) return Promise.resolve()
    return new Promise<void>((resolve) => {
      waiting.push(resolve)
      if (waiting.length === 2) {
        proxy.hold = null
        for (const release of waiting) release()
      }
    })
  }
  const results = await Promise.allSettled([
    ivy.agent.com.atproto.identity.updateHandle({ handle: target }),
    jay.agent.com.atproto.identity.updateHandle({ handle: target }),
  ])
  proxy.hold = null
  const won = results.findIndex((r) => r.status === 'fulfilled')
  assert.ok(won !== -1, JSON.stringify(results))
  const lost = 1 - won
  const loser = [ivy, jay][lost]!
  const winner = [ivy, jay][won]!
  const failure = results[lost] as PromiseRejectedResult
  assert.is(failure.reason.error, 'HandleNotAvailable')
  assert.is(failure.reason.status, 400)
  assert.is((await winner.agent.com.atproto.server.getSession()).data.handle, target)
  assert.is((await loser.agent.com.atproto.server.getSession()).data.handle, loser.handle)
  assert.equal((await plcData(net.plc.url, winner.did)).alsoKnownAs, [`at://${target}`])
  // the loser's document had been changed: it was put back (three ops: genesis, change, restore)
  assert.equal((await plcData(net.plc.url, loser.did)).alsoKnownAs, [`at://${loser.handle}`])
  assert.is(await plcOpCount(loser.did), 3)
  const loserIdentity = await net.agent().com.atproto.identity.resolveIdentity({ identifier: loser.did })
  assert.is(loserIdentity.data.handle, loser.handle)
})

test('a PLC directory that fails: 502 UpstreamFailure, and the account keeps its handle', async () => {
  const kim = await net.createAccount('kim')
  await assertUnchanged(kim, async () => {
    proxy.failWith = 503
    try {
      await expectXrpcError(() => kim.agent.com.atproto.identity.updateHandle({ handle: 'kim2.test' }), 502, 'UpstreamFailure')
    } finally {
      proxy.failWith = null
    }
  })
  assert.is((await wellKnown('kim2.test')).status, 404)
})

test('at most 10 handle changes per account in 5 minutes (the reference limit), then 429 with Retry-After', async () => {
  const lee = await net.createAccount('lee')
  for (let i = 0; i < 10; i++) {
    await lee.agent.com.atproto.identity.updateHandle({ handle: `lee-${i}.test` })
  }
  const current = { ...lee, handle: 'lee-9.test' }
  await assertUnchanged(current, async () => {
    const res = await rawXrpc(net.url, 'com.atproto.identity.updateHandle', {
      token: lee.agent.session!.accessJwt,
      body: { handle: 'lee-10.test' },
    })
    assert.is(res.status, 429)
    assert.is(res.body.error, 'RateLimitExceeded')
    assert.ok(Number(res.headers.get('retry-after')) > 0)
  })
  // another account is not limited by lee's changes
  const may = await net.createAccount('may')
  await may.agent.com.atproto.identity.updateHandle({ handle: 'may-1.test' })
})

test('every event the subscriber received passes the strict checks a relay makes', async () => {
  const checker = new StreamChecker(net.plc.url)
  for (const frame of sub.frames) await checker.check(frame)
  assert.ok((checker.counts['#identity'] ?? 0) > 20, JSON.stringify(checker.counts))
})

test.run()
