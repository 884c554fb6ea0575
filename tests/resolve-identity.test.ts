// com.atproto.identity.resolveDid, resolveIdentity and refreshIdentity through @atproto/api, and
// /.well-known/atproto-did. DIDs from a real PLC directory (accounts here, and DIDs the test
// makes and tombstones with keys of its own) and dev mode's did:web on localhost; custom-domain
// handles from a name server of the test's own, whose answers the test changes.
import dns from 'node:dns'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cidForCbor } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { startTxtDnsServer, type DnsServer } from './_dns-server.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

const ZONE = 'identity-check.net'
let dnsServer: DnsServer
let net: TestNetwork
let webHost: Server
let webPort: number
/** `_atproto.<name>` -> TXT records */
const txt = new Map<string, string[][]>()
/** what the did:web host answers for /.well-known/did.json: status and body */
let webAnswer: { status: number; body: unknown } = { status: 404, body: '' }

type Signer = Parameters<typeof plc.createOp>[0]['signer']

test.before(async () => {
  dnsServer = await startTxtDnsServer(txt)
  dns.setServers([dnsServer.address])
  net = await startNetwork()
  webHost = createServer((_req, res) => {
    res.writeHead(webAnswer.status, { 'content-type': 'application/json' })
    res.end(typeof webAnswer.body === 'string' ? webAnswer.body : JSON.stringify(webAnswer.body))
  })
  await new Promise<void>((resolve) => webHost.listen(0, '127.0.0.1', resolve))
  webPort = (webHost.address() as AddressInfo).port
})

test.after(async () => {
  await net?.close()
  await new Promise((resolve) => webHost?.close(resolve))
  await dnsServer?.close()
})

/** A did:plc made by the test (not an account here) claiming `handle`; its key, to tombstone it. */
async function foreignDid(handle: string): Promise<{ did: string; key: Secp256k1Keypair; op: plc.Operation }> {
  const key = await Secp256k1Keypair.create()
  const { op, did } = await plc.createOp({
    signingKey: key.did(),
    handle,
    pds: 'https://elsewhere.example',
    rotationKeys: [key.did()],
    signer: key as unknown as Signer,
  })
  const res = await fetch(`${net.plc.url}/${did}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) })
  assert.is(res.status, 200)
  return { did, key, op }
}

async function tombstone(d: { did: string; key: Secp256k1Keypair; op: plc.Operation }) {
  const op = await plc.tombstoneOp(await cidForCbor(d.op), d.key)
  const res = await fetch(`${net.plc.url}/${d.did}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) })
  assert.is(res.status, 200)
}

async function plcDoc(did: string): Promise<unknown> {
  return (await fetch(`${net.plc.url}/${did}`)).json()
}

const agent = () => net.agent()

test('resolveDid: an account here, a foreign did:plc, a did:web; the document as its host serves it', async () => {
  const { did } = await net.createAccount('resolvedid')
  assert.equal((await agent().com.atproto.identity.resolveDid({ did })).data.didDoc, await plcDoc(did))
  const foreign = await foreignDid('foreign-doc.test')
  assert.equal((await agent().com.atproto.identity.resolveDid({ did: foreign.did })).data.didDoc, await plcDoc(foreign.did))
  const webDid = `did:web:localhost%3A${webPort}`
  webAnswer = { status: 200, body: { '@context': ['https://www.w3.org/ns/did/v1'], id: webDid, alsoKnownAs: ['at://web.test'] } }
  assert.equal((await agent().com.atproto.identity.resolveDid({ did: webDid })).data.didDoc, webAnswer.body)
})

test('resolveDid: DidNotFound, DidDeactivated, 502 when the host cannot be asked, InvalidRequest for a malformed DID', async () => {
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'DidNotFound')
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: 'did:example:123456' }), 400, 'DidNotFound')
  const gone = await foreignDid('gone.test')
  await tombstone(gone)
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: gone.did }), 400, 'DidDeactivated')

  const webDid = `did:web:localhost%3A${webPort}`
  webAnswer = { status: 404, body: '' }
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: webDid }), 400, 'DidNotFound')
  webAnswer = { status: 410, body: '' }
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: webDid }), 400, 'DidDeactivated')
  webAnswer = { status: 200, body: { id: 'did:web:someone-else.example' } }
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: webDid }), 400, 'DidNotFound')
  webAnswer = { status: 500, body: '' }
  await expectXrpcError(() => agent().com.atproto.identity.resolveDid({ did: webDid }), 502, 'UpstreamFailure')

  const malformed = await rawXrpc(net.url, 'com.atproto.identity.resolveDid', { params: { did: 'not-a-did' } })
  assert.is(malformed.status, 400)
  assert.is(malformed.body.error, 'InvalidRequest')
})

test('resolveIdentity: by DID and by handle, with the handle verified both ways', async () => {
  const { did, handle } = await net.createAccount('resolveme')
  const byDid = await agent().com.atproto.identity.resolveIdentity({ identifier: did })
  assert.equal(byDid.data, { did, handle, didDoc: await plcDoc(did) })
  const byHandle = await agent().com.atproto.identity.resolveIdentity({ identifier: handle.toUpperCase() })
  assert.equal(byHandle.data, byDid.data)
})

test("resolveIdentity: a document claiming a handle that does not point back shows handle.invalid; a handle the document does not claim is HandleNotFound", async () => {
  const owner = await net.createAccount('realowner')
  // claims our account's handle, and a name under our domain that nobody has
  for (const claimed of [owner.handle, 'nobody-here.test']) {
    const impostor = await foreignDid(claimed)
    const res = await agent().com.atproto.identity.resolveIdentity({ identifier: impostor.did })
    assert.is(res.data.handle, 'handle.invalid', claimed)
    assert.is(res.data.did, impostor.did)
  }
  // a custom domain pointing at a DID whose document names another handle
  const other = await foreignDid(`other.${ZONE}`)
  txt.set(`_atproto.pointer.${ZONE}`, [[`did=${other.did}`]])
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: `pointer.${ZONE}` }), 400, 'HandleNotFound')
  // while the document's own handle, pointing back, verifies
  txt.set(`_atproto.other.${ZONE}`, [[`did=${other.did}`]])
  const ok = await agent().com.atproto.identity.resolveIdentity({ identifier: `other.${ZONE}` })
  assert.equal(ok.data, { did: other.did, handle: `other.${ZONE}`, didDoc: await plcDoc(other.did) })
})

test('resolveIdentity: HandleNotFound, DidNotFound, DidDeactivated', async () => {
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: 'nobody.test' }), 400, 'HandleNotFound')
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: `nothing.${ZONE}` }), 400, 'HandleNotFound')
  await expectXrpcError(
    () => agent().com.atproto.identity.resolveIdentity({ identifier: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }),
    400,
    'DidNotFound',
  )
  txt.set(`_atproto.unknown-did.${ZONE}`, [['did=did:plc:bbbbbbbbbbbbbbbbbbbbbbbb']])
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: `unknown-did.${ZONE}` }), 400, 'DidNotFound')
  const gone = await foreignDid(`gone.${ZONE}`)
  txt.set(`_atproto.gone.${ZONE}`, [[`did=${gone.did}`]])
  await tombstone(gone)
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: gone.did }), 400, 'DidDeactivated')
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: `gone.${ZONE}` }), 400, 'DidDeactivated')
})

test('refreshIdentity: a custom handle whose record was removed shows handle.invalid at once, where resolveIdentity still had it cached', async () => {
  const account = await net.createAccount('refresher')
  const handle = `refresher.${ZONE}`
  txt.set(`_atproto.${handle}`, [[`did=${account.did}`]])
  await account.agent.com.atproto.identity.updateHandle({ handle })
  assert.is((await agent().com.atproto.identity.resolveIdentity({ identifier: account.did })).data.handle, handle)

  txt.delete(`_atproto.${handle}`)
  // cached: still shown as verified until it is refreshed
  assert.is((await agent().com.atproto.identity.resolveIdentity({ identifier: account.did })).data.handle, handle)
  const refreshed = await agent().com.atproto.identity.refreshIdentity({ identifier: account.did })
  assert.equal(refreshed.data, { did: account.did, handle: 'handle.invalid', didDoc: await plcDoc(account.did) })
  // and what the refresh found replaced the cached answer
  assert.is((await agent().com.atproto.identity.resolveIdentity({ identifier: account.did })).data.handle, 'handle.invalid')
  await expectXrpcError(() => agent().com.atproto.identity.resolveIdentity({ identifier: handle }), 400, 'HandleNotFound')

  // the record is back: a refresh sees it at once
  txt.set(`_atproto.${handle}`, [[`did=${account.did}`]])
  assert.is((await agent().com.atproto.identity.refreshIdentity({ identifier: handle })).data.handle, handle)
  assert.is((await agent().com.atproto.identity.resolveIdentity({ identifier: account.did })).data.handle, handle)
})

test('refreshIdentity: HandleNotFound, DidNotFound, DidDeactivated, InvalidRequest for something that is neither', async () => {
  await expectXrpcError(() => agent().com.atproto.identity.refreshIdentity({ identifier: 'nobody.test' }), 400, 'HandleNotFound')
  await expectXrpcError(
    () => agent().com.atproto.identity.refreshIdentity({ identifier: 'did:plc:cccccccccccccccccccccccc' }),
    400,
    'DidNotFound',
  )
  const gone = await foreignDid('gone-again.test')
  await tombstone(gone)
  await expectXrpcError(() => agent().com.atproto.identity.refreshIdentity({ identifier: gone.did }), 400, 'DidDeactivated')
  const bad = await rawXrpc(net.url, 'com.atproto.identity.refreshIdentity', { body: { identifier: 'not an identifier' } })
  assert.is(bad.status, 400)
  assert.is(bad.body.error, 'InvalidRequest')
})

/** GET /.well-known/atproto-did with this Host header */
function wellKnown(host: string): Promise<{ status: number; type: string | undefined; body: string }> {
  const { port } = new URL(net.url)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/.well-known/atproto-did', headers: { host } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('/.well-known/atproto-did: the DID of every hosted handle, by Host; 404 for any other host', async () => {
  const accounts = await Promise.all(['wk-one', 'wk-two', 'wk-three'].map((n) => net.createAccount(n)))
  for (const { did, handle } of accounts) {
    for (const host of [handle, handle.toUpperCase(), `${handle}:443`]) {
      const res = await wellKnown(host)
      assert.is(res.status, 200, host)
      assert.is(res.body, did, host)
      assert.match(res.type ?? '', /^text\/plain/)
    }
  }
  for (const host of ['nobody.test', 'localhost', `wk-one.${ZONE}`, 'wk-one.test.evil.example', '127.0.0.1']) {
    const res = await wellKnown(host)
    assert.is(res.status, 404, host)
    assert.not.match(res.body, /did:/)
  }
})

test.run()
