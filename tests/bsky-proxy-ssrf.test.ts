// SSRF through atproto-proxy: a client names any DID, and so any service endpoint. With the
// protection on (the default, dev mode included: the test network runs in dev mode), the
// server never connects to a loopback, private, link-local or metadata address, nor to a port
// other than 443 (HTTPS only), whether the endpoint names the address itself or a name that
// resolves to it, and a client-chosen did:web on such a host is not even fetched. The
// address checked is the address connected to: no second lookup in between (a DNS answer that
// changes cannot slip past). With PDS_DISABLE_SSRF_PROTECTION=true the same targets are
// reached, which shows the refusals come from the check. Names resolve through the test's own
// DNS server.
import dns from 'node:dns'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createOutboundDns, createOutboundStream, OutboundFetchError } from '../src/identity/safe-fetch.ts'
import { startAppView, type AppViewStandIn } from './_appview.ts'
import { startDnsServer, type DnsRecords, type DnsServer } from './_dns-server.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'

const ZONE = 'proxy-ssrf.net'
const APPVIEW_DID = 'did:web:appview.carrel.test'

const NAMES: Record<string, DnsRecords> = {
  loopback: { A: ['127.0.0.1'] },
  private: { A: ['10.1.2.3'] },
  metadata: { A: ['169.254.169.254'] },
  'v6-loopback': { AAAA: ['::1'] },
  'v6-mapped-metadata': { AAAA: ['::ffff:169.254.169.254'] },
  mixed: { A: ['203.0.114.1', '127.0.0.1'] },
}

let dnsServer: DnsServer
let net: TestNetwork
let appView: AppViewStandIn
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>
let rebindAnswers = 0

/** A did:plc whose document names `endpoint` as its `#bsky_appview`. */
async function serviceDid(endpoint: string): Promise<string> {
  const rotationKey = await Secp256k1Keypair.create()
  const op = await plc.signOperation(
    {
      type: 'plc_operation',
      rotationKeys: [rotationKey.did()],
      verificationMethods: {},
      alsoKnownAs: [],
      services: { bsky_appview: { type: 'BskyAppView', endpoint } },
      prev: null,
    },
    rotationKey as unknown as Parameters<typeof plc.signOperation>[1],
  )
  const did = await plc.didForCreateOp(op)
  const res = await fetch(`${net.plc.url}/${did}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) })
  assert.is(res.status, 200, await res.text())
  return did
}

const timeline = (proxy: string) =>
  fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, {
    headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}`, 'atproto-proxy': proxy },
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }))

test.before(async () => {
  dnsServer = await startDnsServer((name, type) => {
    if (name === `rebind.${ZONE}`) {
      if (type !== 'A') return {}
      // a public address for the first question, loopback for every later one
      return { A: [rebindAnswers++ === 0 ? '203.0.114.1' : '127.0.0.1'] }
    }
    const records = NAMES[name.slice(0, -(ZONE.length + 1))]
    if (!name.endsWith(`.${ZONE}`) || !records) return 'nxdomain'
    return { A: type === 'A' ? (records.A ?? []) : [], AAAA: type === 'AAAA' ? (records.AAAA ?? []) : [] }
  })
  // the server's resolvers take the process's DNS servers when they are made
  dns.setServers([dnsServer.address])
  net = await startNetwork()
  appView = await startAppView({ did: APPVIEW_DID, plcUrl: net.plc.url })
  alice = await net.createAccount('alice')
})

test.after(async () => {
  await net?.close()
  await appView?.close()
  await dnsServer?.close()
})

test('protection on (dev mode too): endpoints at non-public addresses, other ports or plain HTTP are refused without a connection', async () => {
  const port = new URL(appView.url).port
  const endpoints = [
    appView.url, // http: the stand-in itself, reached below once the protection is off
    `https://127.0.0.1:${port}`,
    'https://127.0.0.1',
    'https://[::1]',
    'https://169.254.169.254',
    'https://10.0.0.1',
    'https://192.168.1.1',
    'https://[fe80::1]',
    'https://[::ffff:127.0.0.1]',
    'https://0.0.0.0',
    `https://203.0.114.1:8443`,
    ...Object.keys(NAMES).map((n) => `https://${n}.${ZONE}`),
  ]
  const before = { connections: appView.connections, questions: dnsServer.questions.length }
  for (const endpoint of endpoints) {
    const did = await serviceDid(endpoint)
    const res = await timeline(`${did}#bsky_appview`)
    assert.is(res.status, 400, `${endpoint}: ${JSON.stringify(res.body)}`)
    assert.is(res.body.error, 'InvalidRequest', endpoint)
    assert.match(res.body.message, /not one this server may call/, endpoint)
  }
  assert.is(appView.connections, before.connections, 'no connection was made')
  assert.equal(appView.calls, [])
  // names were looked up (and refused for their answers); literal addresses never were
  const asked = dnsServer.questions.slice(before.questions).map((q) => q.name)
  assert.equal([...new Set(asked)].sort(), Object.keys(NAMES).map((n) => `${n}.${ZONE}`).sort())
})

test('a client-chosen did:web on a loopback or private host is not fetched, dev mode included', async () => {
  const before = { connections: appView.connections, reads: appView.didDocReads }
  for (const did of [appView.webDid, 'did:web:127.0.0.1', `did:web:loopback.${ZONE}`, `did:web:metadata.${ZONE}`]) {
    const res = await timeline(`${did}#bsky_appview`)
    assert.is(res.status, 400, `${did}: ${JSON.stringify(res.body)}`)
    assert.is(res.body.error, 'InvalidRequest')
    assert.match(res.body.message, /could not resolve proxy did/)
  }
  assert.is(appView.didDocReads, before.reads)
  assert.is(appView.connections, before.connections)
})

test('the address checked is the one connected to: a DNS answer that turns to loopback after the check is never used', async () => {
  const send = createOutboundStream(
    // the proxy's policy for named services, widened to the stand-in's protocol and port only
    { protocols: ['http:'], allowCustomPort: true, allowNonPublicAddresses: false, headersTimeoutMs: 1000, bodyTimeoutMs: 1000, maxBodyBytes: 1024 },
    (() => {
      const r = createOutboundDns()
      r.setServers([dnsServer.address])
      return r
    })(),
  )
  try {
    const port = new URL(appView.url).port
    const connections = appView.connections
    const err = await send({ url: new URL(`http://rebind.${ZONE}:${port}/xrpc/app.bsky.feed.getTimeline`), method: 'GET', headers: {} }).then(
      () => null,
      (e: unknown) => e,
    )
    // 203.0.114.1 (the checked answer) is not reachable from here: a failure or a timeout
    assert.instance(err, OutboundFetchError)
    assert.ok(['failed', 'timeout'].includes((err as OutboundFetchError).kind), (err as Error).message)
    assert.is(rebindAnswers, 1, 'one lookup: the connection used the checked answer')
    assert.is(appView.connections, connections, 'loopback was never connected to')
  } finally {
    send.close()
  }
})

test('PDS_DISABLE_SSRF_PROTECTION=true: the same endpoint and did:web are reached, with tokens for their DIDs', async () => {
  const plcDid = await serviceDid(appView.url)
  appView.dids.add(plcDid)
  appView.dids.add(appView.webDid)
  net.env.PDS_DISABLE_SSRF_PROTECTION = 'true'
  await net.restart()
  try {
    const login = net.agent()
    await login.login({ identifier: alice.handle, password: alice.password })
    alice.agent = login
    appView.script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"feed":[]}')
      return true
    }
    for (const did of [plcDid, appView.webDid]) {
      const res = await timeline(`${did}#bsky_appview`)
      assert.is(res.status, 200, JSON.stringify(res.body))
      const call = appView.calls.at(-1)!
      assert.is(call.aud, did)
      assert.is(call.lxm, 'app.bsky.feed.getTimeline')
      assert.is(call.iss, alice.did)
    }
    assert.ok(appView.didDocReads > 0)
    assert.equal(appView.refused, [])
  } finally {
    appView.script = null
  }
})

test.run()
