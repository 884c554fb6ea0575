// What the server logs at debug level, read from its own stdout: every request as one line
// (request id, method, path without the query string, status, time, the authenticated caller's
// DID), and never a password, a token, a key or a secret, whatever the client sends and whichever
// path answers it.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import Database from 'better-sqlite3'
import { WebSocket } from 'ws'
import { startServerWithPlc, type ServerWithPlc } from './_server-process.ts'

const PASSWORD = 'log-test password 7c1e'
const JWT_SECRET = 'log-test-jwt-secret-93ab'
const ADMIN_PASSWORD = 'log-test-admin-5d20'
const ROTATION_KEY = 'a1'.repeat(32)
const REDIS_PASSWORD = 'log-test-redis-6e42'
let net: ServerWithPlc
/** an AppView stand-in: answers every call with an empty timeline, keeping the tokens it was sent */
let appView: Server
const forwardedTokens: string[] = []

test.before(async () => {
  appView = createServer((req, res) => {
    forwardedTokens.push((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"feed":[]}')
  })
  await new Promise<void>((r) => appView.listen(0, '127.0.0.1', r))
  net = await startServerWithPlc('carrel-log-', {
    PDS_BSKY_APP_VIEW_URL: `http://127.0.0.1:${(appView.address() as AddressInfo).port}`,
    PDS_BSKY_APP_VIEW_DID: 'did:web:appview.log.test',
    // reference variables Carrel does not use: named in one start-up line, their values never
    PDS_REDIS_SCRATCH_ADDRESS: 'redis.internal.test:6379',
    PDS_REDIS_SCRATCH_PASSWORD: REDIS_PASSWORD,
    PDS_JWT_SECRET: JWT_SECRET,
    PDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: ROTATION_KEY,
    LOG_LEVEL: 'debug',
  })
})

test.after(async () => {
  await net?.stop()
  appView?.close()
})

test('request lines for every call; no password, token, key or secret in any line', async () => {
  const agent = new AtpAgent({ service: net.url })
  await agent.createAccount({ handle: 'logger.test', email: 'logger@mail.test', password: PASSWORD })
  const { accessJwt, refreshJwt, did } = agent.session!
  await agent.com.atproto.repo.createRecord({ repo: did, collection: 'com.example.log', record: { text: 'hello' } })
  await agent.com.atproto.repo.getRecord({ repo: did, collection: 'com.example.log', rkey: 'nothing' }).catch(() => null)
  // a wrong password, a garbage token, a token in the query string, an unknown method
  await new AtpAgent({ service: net.url }).login({ identifier: 'logger.test', password: `${PASSWORD} wrong` }).catch(() => null)
  await fetch(`${net.url}/xrpc/com.atproto.server.getSession`, { headers: { authorization: `Bearer ${accessJwt}garbage` } })
  await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${did}&token=${refreshJwt}`)
  await fetch(`${net.url}/xrpc/com.example.not.here?password=${encodeURIComponent(PASSWORD)}`)
  const session = await agent.com.atproto.server.getSession()
  assert.is(session.data.did, did)
  // the admin password in a Basic header, a service-auth token, and the web paths
  const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')
  const invite = await fetch(`${net.url}/xrpc/com.atproto.server.createInviteCode`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' },
    body: JSON.stringify({ useCount: 1 }),
  })
  assert.is(invite.status, 200)
  const serviceToken = (await agent.com.atproto.server.getServiceAuth({ aud: 'did:web:elsewhere.test', lxm: 'com.atproto.repo.getRecord' })).data.token
  await fetch(`${net.url}/xrpc/com.atproto.server.getSession`, { headers: { authorization: `Bearer ${serviceToken}` } })
  // a call forwarded to the AppView, with the service-auth token this server signs for it
  await agent.app.bsky.feed.getTimeline({})
  assert.is(forwardedTokens.length, 1)
  const landing = await fetch(`${net.url}/`)
  await fetch(`${net.url}/tls-check?domain=logger.test`)
  await new Promise((r) => setTimeout(r, 300))

  const lines = net.server.output().split('\n').filter(Boolean)
  const requests = lines.filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l))
  const paths = requests.map((r) => `${r.method} ${r.path} ${r.status}`)
  assert.ok(paths.includes('POST /xrpc/com.atproto.repo.createRecord 200'), paths.join('\n'))
  assert.ok(paths.includes('GET /xrpc/com.atproto.repo.getRecord 400'), paths.join('\n'))
  assert.ok(paths.includes('POST /xrpc/com.atproto.server.createSession 401'), paths.join('\n'))
  assert.ok(paths.includes('GET /xrpc/com.atproto.repo.describeRepo 200'), paths.join('\n'))
  assert.ok(paths.includes('GET / 200'), paths.join('\n'))
  assert.ok(paths.includes('GET /tls-check 200'), paths.join('\n'))
  for (const r of requests) {
    assert.type(r.ms, 'number')
    assert.match(r.reqId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  }
  assert.is(new Set(requests.map((r) => r.reqId)).size, requests.length, 'request ids are unique')
  // the id a client is given finds its line
  const landingLine = requests.find((r) => r.reqId === landing.headers.get('x-request-id'))
  assert.is(landingLine?.path, '/')

  // the DID of the authenticated caller, and only once its credentials were checked
  const line = (p: string) => requests.filter((r) => `${r.method} ${r.path} ${r.status}` === p)
  assert.ok(line('POST /xrpc/com.atproto.repo.createRecord 200').every((r) => r.did === did))
  assert.ok(line('GET /xrpc/com.atproto.server.getSession 200').every((r) => r.did === did))
  assert.is(line('GET /xrpc/app.bsky.feed.getTimeline 200').length, 1, paths.join('\n'))
  assert.is(line('GET /xrpc/app.bsky.feed.getTimeline 200')[0]!.did, did, 'a forwarded call names its caller')
  for (const p of ['GET /xrpc/com.atproto.server.getSession 400', 'GET /xrpc/com.atproto.server.getSession 401', 'POST /xrpc/com.atproto.server.createSession 401']) {
    for (const r of line(p)) assert.is(r.did, undefined, `${p} names no caller`)
  }
  assert.ok(line('GET /xrpc/com.atproto.repo.describeRepo 200').every((r) => r.did === undefined))
  assert.ok(line('POST /xrpc/com.atproto.server.createInviteCode 200').every((r) => r.did === undefined), 'the admin is no DID')
  const failedSessions = requests.filter((r) => r.path === '/xrpc/com.atproto.server.getSession' && r.status >= 400)
  assert.ok(failedSessions.length >= 2, 'the garbage token and the service token were refused')

  const secrets = [PASSWORD, encodeURIComponent(PASSWORD), accessJwt, refreshJwt, JWT_SECRET, ADMIN_PASSWORD, ROTATION_KEY, basic, serviceToken, ...forwardedTokens]
  // the JWTs' signatures, in case a token is ever logged in part
  for (const jwt of [accessJwt, refreshJwt, serviceToken, ...forwardedTokens]) secrets.push(jwt.split('.')[2])
  // the account's own signing key, as stored, in hex and base64
  const db = new Database(join(net.dataDir, 'carrel.sqlite'), { readonly: true })
  const { signing_key: key } = db.prepare('SELECT signing_key FROM account WHERE did = ?').get(did) as { signing_key: Buffer }
  db.close()
  secrets.push(key.toString('hex'), key.toString('base64'))
  for (const secret of secrets) {
    const hit = lines.find((l) => l.includes(secret))
    assert.is(hit, undefined, `a secret appears in the log: ${hit?.slice(0, 120)}`)
  }
})

test('reference variables Carrel ignores are named in one start-up line, never their values', () => {
  const lines = net.server.output().split('\n').filter((l) => l.includes('reference PDS variables'))
  assert.is(lines.length, 1, 'one line')
  assert.equal((JSON.parse(lines[0]!) as { variables: string[] }).variables, ['PDS_REDIS_SCRATCH_ADDRESS', 'PDS_REDIS_SCRATCH_PASSWORD'])
  const output = net.server.output()
  assert.not.ok(output.includes(REDIS_PASSWORD), 'the password never')
  assert.not.ok(output.includes('redis.internal.test'), 'the address never')
})

test('a firehose subscription is one request line when it ends (status 101, its frames); a refused upgrade one at once', async () => {
  const url = net.url.replace(/^http/, 'ws')
  const ws = new WebSocket(`${url}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
  // listened for from the start: the first frames can arrive with the 101 answer, in the same
  // read, and be emitted before a listener attached after the upgrade would be
  const firstFrame = new Promise((resolve) => ws.once('message', resolve))
  const reqId = await new Promise<string>((resolve, reject) => {
    ws.on('upgrade', (res) => resolve(String(res.headers['x-request-id'])))
    ws.on('error', reject)
  })
  await firstFrame
  ws.close(1000)
  await new Promise((resolve) => ws.once('close', resolve))
  const refused = new WebSocket(`${url}/xrpc/com.example.no.such.stream`)
  refused.on('error', () => {})
  const refusedId = await new Promise<string>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(String(res.headers['x-request-id']))))
  refused.terminate()
  await new Promise((r) => setTimeout(r, 300))

  const requests = net.server.output().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l))
  const sub = requests.find((r) => r.reqId === reqId)
  assert.ok(sub, `no line for ${reqId}`)
  assert.is(sub.path, '/xrpc/com.atproto.sync.subscribeRepos')
  assert.is(sub.status, 101)
  assert.is(sub.closeCode, 1000)
  assert.ok(sub.frames >= 1, `frames ${sub.frames}`)
  assert.type(sub.ms, 'number')
  const no = requests.find((r) => r.reqId === refusedId)
  assert.is(no?.status, 404)
  assert.is(no?.path, '/xrpc/com.example.no.such.stream')
})

test('a client that leaves in the middle of a streamed answer is not a server error', async () => {
  const agent = new AtpAgent({ service: net.url })
  await agent.createAccount({ handle: 'leaver.test', email: 'leaver@mail.test', password: PASSWORD })
  const did = agent.session!.did
  // a repo whose CAR is several MB, so that the client can go away before the end
  for (let i = 0; i < 8; i++) {
    await agent.com.atproto.repo.createRecord({ repo: did, collection: 'com.example.big', record: { text: `${i}`.repeat(700_000) } })
  }
  const before = net.server.output().length
  const controller = new AbortController()
  const res = await fetch(`${net.url}/xrpc/com.atproto.sync.getRepo?did=${did}`, { signal: controller.signal })
  assert.is(res.status, 200)
  const reader = res.body!.getReader()
  await reader.read()
  controller.abort()
  await reader.read().catch(() => null)
  await new Promise((r) => setTimeout(r, 300))
  const errors = net.server
    .output()
    .slice(before)
    .split('\n')
    .filter((l) => l.includes('"level":50'))
  assert.equal(errors, [])
  // and the server still answers
  assert.is((await fetch(`${net.url}/xrpc/_health`)).status, 200)
})

test.run()
