// What the server answers outside /xrpc/: the landing page at `/`, robots.txt, and `/tls-check`,
// the "ask" endpoint a TLS proxy (Caddy's on-demand certificates, see compose.yaml) calls before
// it requests a certificate: yes for our hostname and for handles an account holds, no otherwise.
import { get } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { adminAgent } from './_admin.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'

let net: TestNetwork
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>

test.before(async () => {
  net = await startNetwork({
    PDS_CONTACT_EMAIL_ADDRESS: 'ops+<b>x</b>@example.com',
    PDS_PRIVACY_POLICY_URL: 'javascript:alert(1)',
    PDS_TERMS_OF_SERVICE_URL: 'https://example.com/terms?a=1&b="2"',
  })
  alice = await net.createAccount('alice')
})

test.after(async () => {
  await net?.close()
})

async function tlsCheck(query: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${net.url}/tls-check${query}`)
  assert.is(res.headers.get('content-type'), 'application/json; charset=utf-8')
  return { status: res.status, body: await res.json() }
}

test('landing page: what this server is, its version and links, with the configured values escaped', async () => {
  const res = await fetch(`${net.url}/`)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'text/html; charset=utf-8')
  assert.is(res.headers.get('content-security-policy'), "default-src 'none'; style-src 'unsafe-inline'")
  const html = await res.text()
  assert.ok(html.includes('Personal Data Server'))
  assert.ok(html.includes(`Carrel ${net.pds.cfg.version}`))
  assert.ok(html.includes(net.pds.cfg.serviceDid))
  assert.ok(html.includes('href="/xrpc/com.atproto.server.describeServer"'))
  assert.ok(html.includes('href="/xrpc/_health"'))
  assert.ok(html.includes('ops+&#60;b&#62;x&#60;/b&#62;@example.com'), 'contact address escaped')
  assert.not.ok(html.includes('<b>x</b>'))
  assert.not.ok(html.includes('javascript:'), 'a non-http privacy URL is not linked')
  assert.ok(html.includes('href="https://example.com/terms?a=1&#38;b=%222%22"'), 'terms link, escaped')
  assert.not.ok(/<script/i.test(html))
  const head = await fetch(`${net.url}/`, { method: 'HEAD' })
  assert.is(head.status, 200)
})

test('robots.txt: the landing page may be crawled, the API and the ask endpoint not', async () => {
  const res = await fetch(`${net.url}/robots.txt`)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'text/plain; charset=utf-8')
  const text = await res.text()
  assert.match(text, /^User-agent: \*$/m)
  assert.match(text, /^Disallow: \/xrpc\/$/m)
  assert.match(text, /^Disallow: \/tls-check$/m)
  assert.not.match(text, /^Disallow: \/$/m)
})

test('tls-check: yes for our hostname and for hosted handles, in any case, with a trailing dot', async () => {
  for (const domain of [net.pds.cfg.hostname, alice.handle, alice.handle.toUpperCase(), `${alice.handle}.`]) {
    const { status, body } = await tlsCheck(`?domain=${encodeURIComponent(domain)}`)
    assert.is(status, 200, domain)
    assert.equal(body, { success: true })
  }
})

test('tls-check: no for a free handle, a foreign domain, the handle domain itself, and malformed asks', async () => {
  const cases: [string, number, string][] = [
    ['?domain=nobody.test', 404, 'NotFound'],
    ['?domain=example.com', 400, 'InvalidRequest'],
    ['?domain=alice.test.example.com', 400, 'InvalidRequest'],
    ['?domain=.test', 400, 'InvalidRequest'],
    ['?domain=test', 400, 'InvalidRequest'],
    ['', 400, 'InvalidRequest'],
    ['?domain=', 400, 'InvalidRequest'],
    [`?domain=${alice.handle}&domain=${alice.handle}`, 400, 'InvalidRequest'],
  ]
  for (const [query, status, error] of cases) {
    const res = await tlsCheck(query)
    assert.is(res.status, status, query)
    assert.is(res.body.error, error, query)
    assert.type(res.body.message, 'string')
  }
  // asking changed nothing: the handle is still free
  const free = await net.agent().com.atproto.identity.resolveHandle({ handle: 'nobody.test' }).catch((err) => err)
  assert.is(free.error, 'HandleNotFound')
})

test('tls-check: no for the handle of a taken-down account, as /.well-known/atproto-did; yes again once lifted', async () => {
  const dora = await net.createAccount('dora')
  const admin = adminAgent(net.url)
  const subject = { $type: 'com.atproto.admin.defs#repoRef', did: dora.did }
  // fetch() drops a Host header of its own: node:http sends it
  const wellKnown = () =>
    new Promise<number>((resolve, reject) => {
      get(`${net.url}/.well-known/atproto-did`, { headers: { host: dora.handle } }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject)
    })
  assert.is(await wellKnown(), 200)
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: true } })
  const refused = await tlsCheck(`?domain=${dora.handle}`)
  assert.is(refused.status, 404)
  assert.is(refused.body.error, 'NotFound')
  assert.is(await wellKnown(), 404)
  await admin.com.atproto.admin.updateSubjectStatus({ subject, takedown: { applied: false } })
  assert.equal(await tlsCheck(`?domain=${dora.handle}`), { status: 200, body: { success: true } })
  assert.is(await wellKnown(), 200)
})

test('tls-check follows handle changes: the new handle is allowed, the old one no longer', async () => {
  await alice.agent.com.atproto.identity.updateHandle({ handle: 'alice2.test' })
  assert.is((await tlsCheck('?domain=alice2.test')).status, 200)
  assert.is((await tlsCheck('?domain=alice.test')).status, 404)
})

test.run()
