// What foreign handle resolution accepts and keeps: DNS TXT is preferred to HTTPS and HTTPS is
// the fallback, answers that are not one clear DID are HandleNotFound, and answers (found or
// not) are cached for their lifetime (read on an injected clock), which a fresh lookup skips.
// The HTTPS method is driven at module level against a target on 127.0.0.1 (plain HTTP on its
// port, as HTTPS on 443 cannot be served here); TXT answers also through a running server.
import dns from 'node:dns'
import type { Resolver } from 'node:dns/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { HandleResolver } from '../src/identity/handle-resolver.ts'
import { createOutboundDns } from '../src/identity/safe-fetch.ts'
import { startTxtDnsServer, type DnsServer } from './_dns-server.ts'
import { handleResolverAgainst } from './_handle-resolver.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { startHttpTarget, type HttpTarget } from './_http-target.ts'
import { rawXrpc } from './_util.ts'

const ZONE = 'answers-check.net'
const DNS_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const HTTPS_DID = 'did:plc:yk4dd2qkboz2yv6tpubpc6co'
const TTL = 60_000
const NEGATIVE_TTL = 5_000

let dnsServer: DnsServer
let resolver: Resolver
let target: HttpTarget
let net: TestNetwork
/** `_atproto.<name>` -> TXT records */
const txt = new Map<string, string[][]>()
/** path of /.well-known/atproto-did?handle=<h> -> the answer */
const https = new Map<string, { status: number; body: string; headers?: Record<string, string> }>()

test.before(async () => {
  dnsServer = await startTxtDnsServer(txt)
  resolver = createOutboundDns()
  resolver.setServers([dnsServer.address])
  dns.setServers([dnsServer.address])
  target = await startHttpTarget((req, res) => {
    const handle = new URL(req.url ?? '/', 'http://x').searchParams.get('handle') ?? ''
    const answer = https.get(handle) ?? { status: 404, body: 'not here' }
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers })
    res.end(answer.body)
  })
  // public (non-dev) mode: our domain is .pds.<zone>
  net = await startNetwork({ PDS_HOSTNAME: `pds.${ZONE}` })
})

test.after(async () => {
  await net?.close()
  await target?.close()
  await dnsServer?.close()
})

function handleResolver(clock?: { now: number }): HandleResolver {
  return handleResolverAgainst(resolver, target, { ttlMs: TTL, negativeTtlMs: NEGATIVE_TTL, now: clock ? () => clock.now : undefined })
}

const txtQuestions = (handle: string) => dnsServer.questions.filter((q) => q.name === `_atproto.${handle}` && q.type === 'TXT').length
const httpQuestions = (handle: string) => target.requests.filter((r) => r.url.endsWith(`handle=${handle}`)).length

test('DNS TXT is preferred when both methods answer; HTTPS is the fallback when DNS has no record', async () => {
  const r = handleResolver()
  txt.set(`_atproto.both.${ZONE}`, [[`did=${DNS_DID}`]])
  https.set(`both.${ZONE}`, { status: 200, body: HTTPS_DID })
  assert.is(await r.resolve(`both.${ZONE}`), DNS_DID)
  https.set(`https-only.${ZONE}`, { status: 200, body: `${HTTPS_DID}\n` })
  assert.is(await r.resolve(`https-only.${ZONE}`), HTTPS_DID)
  assert.is(await r.resolve(`neither.${ZONE}`), null)
})

test('HTTPS answers that are not a DID, not 2xx, redirects, or too large do not resolve', async () => {
  const r = handleResolver()
  const cases: [string, { status: number; body: string; headers?: Record<string, string> }][] = [
    ['garbage', { status: 200, body: 'hello world' }],
    ['empty', { status: 200, body: '' }],
    ['html', { status: 200, body: `<html>${HTTPS_DID}</html>` }],
    ['notfound', { status: 404, body: HTTPS_DID }],
    ['error', { status: 500, body: HTTPS_DID }],
    ['redirect', { status: 302, body: '', headers: { location: `${target.url}/.well-known/atproto-did?handle=https-only.${ZONE}` } }],
    ['huge', { status: 200, body: HTTPS_DID + '\n' + 'x'.repeat(10_000) }],
  ]
  for (const [name, answer] of cases) {
    https.set(`${name}.${ZONE}`, answer)
    assert.is(await r.resolve(`${name}.${ZONE}`), null, name)
  }
})

test('TXT answers that are not one clear did= do not resolve: HandleNotFound through the server', async () => {
  const cases: [string, string[][]][] = [
    ['bad-did', [['did=not-a-did']]],
    ['no-prefix', [[DNS_DID]]],
    ['other-prefix', [[`dId=${DNS_DID}`]]],
    ['two-dids', [[`did=${DNS_DID}`], [`did=${HTTPS_DID}`]]],
    ['only-spf', [['v=spf1 -all']]],
  ]
  for (const [name, records] of cases) {
    txt.set(`_atproto.${name}.${ZONE}`, records)
    const res = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: `${name}.${ZONE}` } })
    assert.is(res.status, 400, name)
    assert.equal(res.body.error, 'HandleNotFound', name)
  }
  // a record split into several strings, with the same DID repeated, is one clear answer
  txt.set(`_atproto.split.${ZONE}`, [['did=', DNS_DID], [`did=${DNS_DID}`]])
  const split = await rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle: `split.${ZONE}` } })
  assert.equal(split.body, { did: DNS_DID })
})

test('answers are cached for their lifetime (found ones longer than "not found"); a fresh lookup skips the cache and replaces the entry', async () => {
  const clock = { now: 1_000_000 }
  const r = handleResolver(clock)
  const handle = `cached.${ZONE}`
  txt.set(`_atproto.${handle}`, [[`did=${DNS_DID}`]])
  assert.is(await r.resolve(handle), DNS_DID)
  assert.is(txtQuestions(handle), 1)
  assert.is(httpQuestions(handle), 1)

  // the record changes: within the lifetime the cached answer stands, without asking again
  txt.set(`_atproto.${handle}`, [[`did=${HTTPS_DID}`]])
  clock.now += TTL - 1
  assert.is(await r.resolve(handle), DNS_DID)
  assert.is(txtQuestions(handle), 1)
  // past it, the name server is asked again
  clock.now += 2
  assert.is(await r.resolve(handle), HTTPS_DID)
  assert.is(txtQuestions(handle), 2)

  // "not found" is kept for the shorter lifetime
  const missing = `missing.${ZONE}`
  assert.is(await r.resolve(missing), null)
  txt.set(`_atproto.${missing}`, [[`did=${DNS_DID}`]])
  clock.now += NEGATIVE_TTL - 1
  assert.is(await r.resolve(missing), null)
  assert.is(txtQuestions(missing), 1)
  // a fresh lookup sees the new record at once, and what it found is cached
  assert.is(await r.resolve(missing, { fresh: true }), DNS_DID)
  assert.is(txtQuestions(missing), 2)
  assert.is(await r.resolve(missing), DNS_DID)
  assert.is(txtQuestions(missing), 2)
  clock.now += 2
  assert.is(await r.resolve(missing), DNS_DID, 'a found answer lives for the longer lifetime')
  assert.is(txtQuestions(missing), 2)
})

test.run()
