// Foreign handle resolution that cannot be turned against the server: bounded concurrency
// (a burst waits, a flood gets 429), one flight per handle, the DNS TXT path under a flood of
// records or a silent name server. The HTTPS method is driven at module level against a
// target on 127.0.0.1 (with the dev-mode policy, widened only to plain HTTP on the target's
// port, as HTTPS on 443 cannot be served here); the rest through a running server in public
// (non-dev) mode, whose DNS questions go to a name server of the test's own.
import dns from 'node:dns'
import type { Resolver } from 'node:dns/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HANDLE_RESOLUTION_LIMITS, HandleResolutionBusyError, type HandleResolver } from '../src/identity/handle-resolver.ts'
import { createOutboundDns } from '../src/identity/safe-fetch.ts'
import { startDnsServer, type DnsServer } from './_dns-server.ts'
import { handleResolverAgainst } from './_handle-resolver.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { startHttpTarget, type HttpTarget } from './_http-target.ts'
import { rawXrpc } from './_util.ts'

const ZONE = 'ssrf-check.net'
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const OTHER_DID = 'did:plc:yk4dd2qkboz2yv6tpubpc6co'
const { maxConcurrent, maxWaiting } = HANDLE_RESOLUTION_LIMITS

let dnsServer: DnsServer
let resolver: Resolver
let net: TestNetwork

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const junkTxt = Array.from({ length: 300 }, (_, i) => [`v=spf1 include:${'x'.repeat(150)}.example ~all ${i}`])

test.before(async () => {
  dnsServer = await startDnsServer(async (name, type) => {
    if (name.endsWith(`.hang.${ZONE}`)) return 'silent'
    if (type !== 'TXT') return 'nxdomain'
    if (name === `_atproto.many.${ZONE}`)
      return { TXT: [...junkTxt.slice(0, 150), [`did=${DID}`], ...junkTxt.slice(150)] }
    if (name === `_atproto.two.${ZONE}`) return { TXT: [[`did=${DID}`], [`did=${OTHER_DID}`]] }
    if (name === `_atproto.slow.${ZONE}` || name === `_atproto.after.${ZONE}`) {
      await sleep(300)
      return { TXT: [['did=', DID]] }
    }
    return 'nxdomain'
  })
  resolver = createOutboundDns()
  resolver.setServers([dnsServer.address])
  // the server's resolvers take the process's DNS servers when they are made
  dns.setServers([dnsServer.address])
  net = await startNetwork({ PDS_HOSTNAME: `pds.${ZONE}` })
})

test.after(async () => {
  await net?.close()
  await dnsServer?.close()
})

const resolverAgainst = (target: HttpTarget): HandleResolver => handleResolverAgainst(resolver, target)

async function settle(resolutions: Promise<string | null>[]) {
  const results = await Promise.allSettled(resolutions)
  const busy = results.filter((r) => r.status === 'rejected' && r.reason instanceof HandleResolutionBusyError)
  return {
    values: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    busy: busy.length,
    otherErrors: results.length - busy.length - results.filter((r) => r.status === 'fulfilled').length,
  }
}

test('HTTPS method: a flood against a target that never answers holds at most the bound of connections; the rest get 429', async () => {
  const target = await startHttpTarget(() => {
    // never answers
  })
  try {
    const handleResolver = resolverAgainst(target)
    const handles = Array.from({ length: maxConcurrent + maxWaiting + 10 }, (_, i) => `flood${i}.${ZONE}`)
    const out = await settle(handles.map((h) => handleResolver.resolve(h)))
    assert.is(target.maxServing, maxConcurrent, 'connections open at once at the target')
    assert.is(target.requests.length, maxConcurrent, 'requests the target saw')
    // the flights that ran timed out; every other caller was told to come back later
    assert.equal(out.values, Array(maxConcurrent).fill(null))
    assert.is(out.busy, handles.length - maxConcurrent)
    assert.is(out.otherErrors, 0)
    assert.ok(await target.hungUp(), 'every connection was closed')
  } finally {
    await target.close()
  }
})

test('HTTPS method: a burst a little over the bound waits for slots instead of failing, and never exceeds the bound', async () => {
  const target = await startHttpTarget((_req, res) => {
    setTimeout(() => res.end(DID), 50)
  })
  try {
    const handleResolver = resolverAgainst(target)
    const handles = Array.from({ length: maxConcurrent * 2 }, (_, i) => `burst${i}.${ZONE}`)
    const out = await settle(handles.map((h) => handleResolver.resolve(h)))
    assert.equal(out.values, Array(handles.length).fill(DID))
    assert.is(target.requests.length, handles.length)
    assert.ok(target.maxServing <= maxConcurrent, `${target.maxServing} connections open at once`)
  } finally {
    await target.close()
  }
})

test('HTTPS method: identical concurrent resolutions share one flight', async () => {
  const target = await startHttpTarget((_req, res) => {
    setTimeout(() => res.end(DID), 200)
  })
  try {
    const handleResolver = resolverAgainst(target)
    const handle = `same.${ZONE}`
    const out = await settle(Array.from({ length: 25 }, () => handleResolver.resolve(handle)))
    assert.equal(out.values, Array(25).fill(DID))
    assert.is(target.requests.length, 1)
    assert.is(dnsServer.questions.filter((q) => q.name === `_atproto.${handle}`).length, 1)
  } finally {
    await target.close()
  }
})

test('resolveHandle: a flood of handles whose name server never answers is bounded; the rest get 429 RateLimitExceeded', async () => {
  const handles = Array.from({ length: maxConcurrent + maxWaiting + 10 }, (_, i) => `h${i}.hang.${ZONE}`)
  const answers = await Promise.all(
    handles.map((handle) => rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle } })),
  )
  const tally = new Map<string, number>()
  for (const a of answers) tally.set(`${a.status} ${a.body.error}`, (tally.get(`${a.status} ${a.body.error}`) ?? 0) + 1)
  assert.equal(
    Object.fromEntries(tally),
    { '400 HandleNotFound': maxConcurrent, '429 RateLimitExceeded': handles.length - maxConcurrent },
    JSON.stringify(Object.fromEntries(tally)),
  )
  for (const a of answers.filter((a) => a.status === 429)) assert.is(a.headers.get('retry-after'), '1')
  // the name server was asked about exactly as many handles as may be resolved at once
  const asked = new Set(
    dnsServer.questions.filter((q) => q.name.endsWith(`.hang.${ZONE}`)).map((q) => q.name.replace(/^_atproto\./, '')),
  )
  assert.is(asked.size, maxConcurrent)
  // once the flood has passed, resolution works again
  const after = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: `after.${ZONE}` } })
  assert.is(after.status, 200)
  assert.equal(after.body, { did: DID })
})

test('resolveHandle: identical concurrent requests make one DNS lookup', async () => {
  const handle = `slow.${ZONE}`
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle } })),
  )
  for (const a of answers) {
    assert.is(a.status, 200)
    assert.equal(a.body, { did: DID })
  }
  assert.is(dnsServer.questions.filter((q) => q.name === `_atproto.${handle}` && q.type === 'TXT').length, 1)
})

test('resolveHandle: a TXT answer of ~55 KB in 301 records finds its one did=; two different DIDs do not resolve', async () => {
  const many = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: `many.${ZONE}` } })
  assert.is(many.status, 200)
  assert.equal(many.body, { did: DID })
  const two = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: `two.${ZONE}` } })
  assert.is(two.status, 400)
  assert.is(two.body.error, 'HandleNotFound')
})

test.run()
