// Service proxying (src/xrpc/proxy): calls for the AppView, the chat service and the report
// service go on to them with a fresh service-auth token of the caller, which the stand-in
// (tests/_appview.ts) verifies with @atproto/xrpc-server's own verifier against the account's
// DID document; their answers, errors included, come back as they were sent, streamed.
import { createHash } from 'node:crypto'
import { request, type ClientRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig, ConfigError } from '../src/config.ts'
import { adminAgent } from './_admin.ts'
import { startAppView, type AppViewStandIn } from './_appview.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { createKeylessDid } from './_own-did.ts'

const APPVIEW_DID = 'did:web:appview.carrel.test'
const CHAT_DID = 'did:web:chat.carrel.test'
const REPORT_DID = 'did:plc:reportservicereportservi'

let net: TestNetwork
let appView: AppViewStandIn
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>

async function call(
  path: string,
  opts: { token?: string | null; headers?: Record<string, string>; method?: string; body?: string | Buffer } = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const headers: Record<string, string> = { ...opts.headers }
  const token = opts.token === undefined ? alice.agent.session!.accessJwt : opts.token
  if (token) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${net.url}${path}`, { method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'), headers, body: opts.body })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/**
 * POSTs JSON to `nsid` as alice over a plain http.request, the body written by `send` (chunked,
 * part by part, as the test needs): the status and body of the answer.
 */
function postInParts(nsid: string, send: (req: ClientRequest) => void): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${net.url}/xrpc/${nsid}`)
    const req = request(
      { host: '127.0.0.1', port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.agent.session!.accessJwt}` } },
      (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      },
    )
    req.on('error', reject)
    send(req)
  })
}

/** The AppView answers chat.bsky.convo.sendMessage with `{received: <bytes of the body>}`, calling `onPart` at each part it reads. */
function countSendMessageBytes(onPart: () => void): void {
  appView.script = (req, res, c) => {
    if (c.nsid !== 'chat.bsky.convo.sendMessage') return false
    let received = 0
    req.on('data', (d: Buffer) => {
      received += d.length
      onPart()
    })
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received })))
    return true
  }
}

test.before(async () => {
  // the stand-in needs the PLC directory's URL, the server the stand-in's: start the PLC first
  net = await startNetwork()
  appView = await startAppView({ did: APPVIEW_DID, plcUrl: net.plc.url })
  appView.dids.add(CHAT_DID)
  appView.dids.add(REPORT_DID)
  await net.pds.close()
  net.env.PDS_BSKY_APP_VIEW_URL = appView.url
  net.env.PDS_BSKY_APP_VIEW_DID = APPVIEW_DID
  net.env.PDS_BSKY_CHAT_URL = appView.url
  net.env.PDS_BSKY_CHAT_DID = CHAT_DID
  net.env.PDS_REPORT_SERVICE_URL = appView.url
  net.env.PDS_REPORT_SERVICE_DID = REPORT_DID
  net.env.PDS_PROXY_HEADERS_TIMEOUT = '1500'
  net.env.PDS_PROXY_BODY_TIMEOUT = '1500'
  net.env.PDS_PROXY_MAX_RESPONSE_SIZE = String(8 * 1024 * 1024)
  net.env.PDS_JSON_BODY_LIMIT = String(64 * 1024)
  net.env.PDS_PORT = '0'
  await net.restart()
  alice = await net.createAccount('alice')
  await appView.index(net.url, alice.did)
})

test.after(async () => {
  await net?.close()
  await appView?.close()
})

test.after.each(() => {
  appView.script = null
})

test('getTimeline, getProfile and getPostThread reach the AppView with a fresh token for its DID and the method', async () => {
  await alice.agent.post({ text: 'hello from carrel' })
  await appView.index(net.url, alice.did)
  const post = (await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post' })).data.records[0]!
  const before = appView.calls.length
  const paths = [
    '/xrpc/app.bsky.feed.getTimeline?limit=7&algorithm=reverse-chronological',
    `/xrpc/app.bsky.actor.getProfile?actor=${alice.did}`,
    `/xrpc/app.bsky.feed.getPostThread?uri=${encodeURIComponent(post.uri)}&depth=3`,
  ]
  for (const path of paths) {
    const res = await call(path)
    assert.is(res.status, 200, `${path}: ${res.text}`)
  }
  const calls = appView.calls.slice(before)
  assert.is(calls.length, 3)
  const now = Date.now() / 1000
  for (const [i, c] of calls.entries()) {
    assert.is(c.iss, alice.did)
    assert.is(c.aud, APPVIEW_DID)
    assert.is(c.lxm, c.nsid)
    assert.is(c.url, paths[i], 'the query arrives as the client sent it')
    assert.ok(c.exp > now && c.exp <= now + 61, `exp ${c.exp - now} s ahead`)
    assert.ok(c.iat !== undefined && c.exp - c.iat <= 60, 'lifetime at most 60 s')
    assert.match(c.jti ?? '', /^[0-9a-f]{16,}$/)
  }
  assert.is(new Set(calls.map((c) => c.jti)).size, 3, 'a fresh token for every call')
  // what the client got is what the AppView sent
  const timeline = await alice.agent.getTimeline({ limit: 7 })
  assert.is(timeline.data.feed[0]?.post.uri, post.uri)
  const thread = await call(paths[2]!)
  assert.is(thread.json.thread.post.uri, post.uri)
})

test('the upstream path is the method, rebuilt here; only the query is taken as the client sent it', async () => {
  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"feed":[]}')
    return true
  }
  const res = await call('/xrpc/app.bsky.feed.getTimeline/?limit=2&cursor=a%2Fb')
  assert.is(res.status, 200, res.text)
  assert.is(appView.calls.at(-1)!.url, '/xrpc/app.bsky.feed.getTimeline?limit=2&cursor=a%2Fb')
})

test("the client's own token never leaves the server; the headers that matter go both ways, others do not", async () => {
  appView.script = (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-language': 'de',
      'atproto-repo-rev': '3kabcdefghij2',
      'atproto-content-labelers': 'did:plc:labeler',
      'ratelimit-limit': '3000',
      'ratelimit-remaining': '2999',
      'ratelimit-reset': '1700000000',
      'ratelimit-policy': '3000;w=300',
      'set-cookie': 'session=secret',
      'x-powered-by': 'stand-in',
    })
    res.end('{"feed":[]}')
    return true
  }
  const res = await call('/xrpc/app.bsky.feed.getTimeline', {
    headers: { 'accept-language': 'de, en;q=0.5', 'atproto-accept-labelers': 'did:plc:labeler;redact', 'x-bsky-topics': 'dev', cookie: 'a=b' },
  })
  assert.is(res.status, 200)
  assert.is(res.text, '{"feed":[]}')
  for (const name of ['content-language', 'atproto-repo-rev', 'atproto-content-labelers', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy']) {
    assert.ok(res.headers.get(name), `${name} passed back`)
  }
  assert.is(res.headers.get('set-cookie'), null)
  assert.is(res.headers.get('x-powered-by'), null)
  const seen = appView.calls.at(-1)!
  assert.is(seen.headers['accept-language'], 'de, en;q=0.5')
  assert.is(seen.headers['atproto-accept-labelers'], 'did:plc:labeler;redact')
  assert.is(seen.headers['x-bsky-topics'], 'dev')
  assert.is(seen.headers.cookie, undefined)
  assert.is(seen.headers['atproto-proxy'], undefined)
  assert.not.ok(seen.headers.authorization?.includes(alice.agent.session!.accessJwt), 'the access token stays here')
})

test('a procedure body is passed on byte for byte, compressed bodies as sent', async () => {
  let received: { body: Buffer; type?: string; encoding?: string } | undefined
  appView.script = (req, res, c) => {
    if (c.nsid !== 'app.bsky.graph.muteActor') return false
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      received = { body: Buffer.concat(chunks), type: req.headers['content-type'], encoding: req.headers['content-encoding'] }
      res.writeHead(200).end()
    })
    return true
  }
  const json = `{"actor": "${alice.did}" , "extra":"é\\u00e9"}`
  const plain = await call('/xrpc/app.bsky.graph.muteActor', { body: json, headers: { 'content-type': 'application/json' } })
  assert.is(plain.status, 200)
  assert.is(received!.body.toString(), json)
  assert.is(received!.type, 'application/json')
  const gz = gzipSync(json)
  const compressed = await call('/xrpc/app.bsky.graph.muteActor', { body: gz, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
  assert.is(compressed.status, 200)
  assert.ok(received!.body.equals(gz), 'the gzip bytes as sent')
  assert.is(received!.encoding, 'gzip')
  assert.is(appView.calls.at(-1)!.lxm, 'app.bsky.graph.muteActor')
})

test("the AppView's errors come back unchanged: status, error name, message, rate-limit headers", async () => {
  const cases: [number, Record<string, string>, string][] = [
    [400, {}, JSON.stringify({ error: 'NotFound', message: 'Post not found: at://x' })],
    [401, {}, JSON.stringify({ error: 'BadJwtSignature', message: 'jwt signature does not match jwt issuer' })],
    [429, { 'ratelimit-limit': '10', 'ratelimit-remaining': '0', 'retry-after': '30' }, JSON.stringify({ error: 'RateLimitExceeded', message: 'slow down' })],
    [500, {}, JSON.stringify({ error: 'InternalServerError', message: 'Internal Server Error' })],
    [503, {}, JSON.stringify({ error: 'NotEnoughResources', message: 'busy' })],
  ]
  for (const [status, headers, body] of cases) {
    appView.script = (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(body)
      return true
    }
    const res = await call('/xrpc/app.bsky.feed.getTimeline')
    assert.is(res.status, status)
    assert.is(res.text, body)
    for (const [name, value] of Object.entries(headers)) assert.is(res.headers.get(name), value, `${status} ${name}`)
  }
  // through @atproto/api the error name is the AppView's
  appView.script = (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'BlockedActor', message: 'blocked' }))
    return true
  }
  const err = await alice.agent.getProfile({ actor: 'someone.test' }).catch((e: any) => e)
  assert.is(err.error, 'BlockedActor')
  assert.is(err.status, 400)
})

test('an error answer that is no XRPC error (an HTML page) becomes one with its status; 500 becomes 502', async () => {
  for (const [status, expected, name] of [
    [503, 503, 'NotEnoughResources'],
    [404, 404, 'XRPCNotSupported'],
    [500, 502, 'UpstreamFailure'],
  ] as const) {
    appView.script = (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html' }).end('<html><body>Service Unavailable</body></html>')
      return true
    }
    const res = await call('/xrpc/app.bsky.feed.getTimeline')
    assert.is(res.status, expected)
    assert.is(res.json.error, name)
    assert.match(res.json.message, /without an XRPC error body/)
  }
})

test('a large answer streams through: the first bytes arrive while the AppView still holds the rest back, and all of it is intact', async () => {
  const chunk = Buffer.alloc(256 * 1024, 'a')
  const total = 20 // 5 MiB
  const hash = createHash('sha256')
  let release!: () => void
  const released = new Promise<void>((r) => (release = r))
  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    res.write(chunk)
    hash.update(chunk)
    void released.then(async () => {
      for (let i = 1; i < total; i++) {
        const c = Buffer.alloc(chunk.length, i % 26 + 97)
        hash.update(c)
        if (!res.write(c)) await new Promise((r) => res.once('drain', r))
      }
      res.end()
    })
    return true
  }
  const res = await fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` } })
  assert.is(res.status, 200)
  const reader = res.body!.getReader()
  const got = createHash('sha256')
  let size = 0
  const first = await reader.read()
  size += first.value!.length
  got.update(first.value!)
  // the AppView has sent one chunk and waits: what arrived cannot have been buffered whole
  assert.ok(size > 0 && size <= chunk.length)
  release()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    got.update(value)
  }
  assert.is(size, total * chunk.length)
  assert.is(got.digest('hex'), hash.digest('hex'))
})

test('a request body streams through: the AppView reads its first part before the client has sent the rest', async () => {
  let firstPartSeen!: () => void
  const seenFirst = new Promise<void>((r) => (firstPartSeen = r))
  countSendMessageBytes(firstPartSeen)
  const first = '{"convoId":"c1","message":{"text":"' + 'x'.repeat(1000)
  const rest = '"}}'
  const answer = await postInParts('chat.bsky.convo.sendMessage', (req) => {
    req.write(first)
    // the rest only once the AppView has the first part: a server that buffered the body would wait forever
    void seenFirst.then(() => req.end(rest))
  })
  assert.is(answer.status, 200, answer.body)
  assert.is(JSON.parse(answer.body).received, first.length + rest.length)
  const c = appView.calls.at(-1)!
  assert.is(c.aud, CHAT_DID)
  assert.is(c.lxm, 'chat.bsky.convo.sendMessage')
})

test("a client's slow upload is not the service's slowness: the wait for an answer starts once the body is sent", async () => {
  let firstPartSeen!: () => void
  const seenFirst = new Promise<void>((r) => (firstPartSeen = r))
  countSendMessageBytes(firstPartSeen)
  const first = '{"convoId":"c1","message":{"text":"slow'
  const rest = '"}}'
  const answer = await postInParts('chat.bsky.convo.sendMessage', (req) => {
    req.write(first)
    // the rest after longer than PDS_PROXY_HEADERS_TIMEOUT (1.5 s here), within the idle limit
    void seenFirst.then(() => {
      setTimeout(() => req.write(' '), 900)
      setTimeout(() => req.end(rest), 1800)
    })
  })
  assert.is(answer.status, 200, answer.body)
  assert.is(JSON.parse(answer.body).received, first.length + 1 + rest.length)
})

test('chat goes to the chat service and reports to the report service, by default or as the header names them', async () => {
  const answerEmpty = () => {
    appView.script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"convos":[]}')
      return true
    }
  }
  answerEmpty()
  assert.is((await call('/xrpc/chat.bsky.convo.listConvos')).status, 200)
  assert.is(appView.calls.at(-1)!.aud, CHAT_DID)
  assert.is((await call('/xrpc/chat.bsky.convo.listConvos', { headers: { 'atproto-proxy': `${CHAT_DID}#bsky_chat` } })).status, 200)
  assert.is(appView.calls.at(-1)!.aud, CHAT_DID)
  assert.is((await call('/xrpc/app.bsky.feed.getTimeline', { headers: { 'atproto-proxy': `${APPVIEW_DID}#bsky_appview` } })).status, 200)
  assert.is(appView.calls.at(-1)!.aud, APPVIEW_DID)

  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 1, reasonType: 'com.atproto.moderation.defs#reasonSpam', subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did }, reportedBy: alice.did, createdAt: new Date().toISOString() }))
    return true
  }
  const report = await alice.agent.com.atproto.moderation.createReport({
    reasonType: 'com.atproto.moderation.defs#reasonSpam',
    subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did },
  })
  assert.is(report.data.id, 1)
  const c = appView.calls.at(-1)!
  assert.is(c.aud, REPORT_DID)
  assert.is(c.lxm, 'com.atproto.moderation.createReport')
})

test("a taken-down account: allowTakendown gives a narrow session that may appeal and read its preferences, and nothing else", async () => {
  const dora = await net.createAccount('dora')
  const appPassword = (await dora.agent.com.atproto.server.createAppPassword({ name: 'phone' })).data.password
  await adminAgent(net.url).com.atproto.admin.updateSubjectStatus({
    subject: { $type: 'com.atproto.admin.defs#repoRef', did: dora.did },
    takedown: { applied: true },
  })
  const login = (body: Record<string, unknown>) =>
    call('/xrpc/com.atproto.server.createSession', { token: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const refused = await login({ identifier: dora.handle, password: dora.password })
  assert.is(refused.status, 401)
  assert.is(refused.json.error, 'AccountTakedown')
  // an app password never opens a taken-down account
  const byAppPassword = await login({ identifier: dora.handle, password: appPassword, allowTakendown: true })
  assert.is(byAppPassword.status, 401)
  assert.is(byAppPassword.json.error, 'AuthenticationRequired')

  const session = await login({ identifier: dora.handle, password: dora.password, allowTakendown: true })
  assert.is(session.status, 200)
  assert.is(session.json.did, dora.did)
  assert.is(session.json.active, false)
  assert.is(session.json.status, 'takendown')
  const token = session.json.accessJwt as string
  assert.is(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).scope, 'com.atproto.takendown')

  // the appeal reaches the report service with a token of the account
  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 7, reasonType: 'com.atproto.moderation.defs#reasonAppeal', subject: { $type: 'com.atproto.admin.defs#repoRef', did: dora.did }, reportedBy: dora.did, createdAt: new Date().toISOString() }))
    return true
  }
  const appeal = await call('/xrpc/com.atproto.moderation.createReport', {
    token,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reasonType: 'com.atproto.moderation.defs#reasonAppeal', subject: { $type: 'com.atproto.admin.defs#repoRef', did: dora.did } }),
  })
  assert.is(appeal.status, 200, appeal.text)
  assert.is(appeal.json.id, 7)
  assert.is(appView.calls.at(-1)!.aud, REPORT_DID)
  assert.is(appView.calls.at(-1)!.iss, dora.did)
  assert.is((await call('/xrpc/app.bsky.actor.getPreferences', { token })).status, 200)

  // nothing else: other proxied calls, the account's own methods, writes
  const callsBefore = appView.calls.length
  const refusedCalls = [
    await call('/xrpc/app.bsky.feed.getTimeline', { token }),
    await call('/xrpc/com.atproto.server.getSession', { token }),
    await call('/xrpc/com.atproto.server.getServiceAuth?aud=did:web:elsewhere.test', { token }),
    await call('/xrpc/app.bsky.actor.putPreferences', { token, headers: { 'content-type': 'application/json' }, body: '{"preferences":[]}' }),
    await call('/xrpc/com.atproto.repo.createRecord', {
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: dora.did, collection: 'app.bsky.feed.post', record: { text: 'hi', createdAt: new Date().toISOString() } }),
    }),
  ]
  for (const r of refusedCalls) {
    assert.is(r.status, 400, r.text)
    assert.is(r.json.error, 'InvalidToken')
  }
  assert.is(appView.calls.length, callsBefore, 'nothing went upstream')
  // and the session cannot be refreshed
  const refreshed = await call('/xrpc/com.atproto.server.refreshSession', { token: session.json.refreshJwt, method: 'POST' })
  assert.is(refreshed.status, 400)
  assert.is(refreshed.json.error, 'ExpiredToken')
})

test('only sessions of this server are forwarded: no token, a bad one, an app password for chat', async () => {
  const before = appView.calls.length + appView.refused.length
  const none = await call('/xrpc/app.bsky.feed.getTimeline', { token: null })
  assert.is(none.status, 401)
  assert.is(none.json.error, 'AuthMissing')
  const bad = await call('/xrpc/app.bsky.feed.getTimeline', { token: 'not-a-token' })
  assert.is(bad.status, 400)
  assert.is(bad.json.error, 'InvalidToken')
  const withHeader = await call('/xrpc/app.bsky.feed.getTimeline', { token: null, headers: { 'atproto-proxy': `${APPVIEW_DID}#bsky_appview` } })
  assert.is(withHeader.status, 401)

  const plain = await alice.agent.com.atproto.server.createAppPassword({ name: 'plain' })
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'priv', privileged: true })
  const login = async (password: string) => {
    const a = net.agent()
    await a.login({ identifier: alice.handle, password })
    return a.session!.accessJwt
  }
  const plainToken = await login(plain.data.password)
  const refused = await call('/xrpc/chat.bsky.convo.listConvos', { token: plainToken })
  assert.is(refused.status, 400)
  assert.is(refused.json.error, 'InvalidToken')
  assert.is(appView.calls.length + appView.refused.length, before, 'the services saw none of these')

  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"convos":[]}')
    return true
  }
  assert.is((await call('/xrpc/chat.bsky.convo.listConvos', { token: await login(privileged.data.password) })).status, 200)
  // an ordinary app password reaches the AppView
  assert.is((await call('/xrpc/app.bsky.feed.getTimeline', { token: plainToken })).status, 200)
})

test('refused before anything is sent: account-management methods, unknown methods, records, malformed headers, DIDs without the service', async () => {
  const before = appView.calls.length + appView.refused.length + appView.connections
  const header = (v: string) => ({ headers: { 'atproto-proxy': v } })
  const keyless = await createKeylessDid(net.plc.url, 'keyless.example.com')
  const cases: [string, Parameters<typeof call>[1], number, string, RegExp][] = [
    // an account-management method is answered here whatever the header says (this address is not the account's)
    ['/xrpc/com.atproto.server.confirmEmail', { ...header(`${APPVIEW_DID}#bsky_appview`), body: '{"email":"a@b.c","token":"x"}', headers: { 'atproto-proxy': `${APPVIEW_DID}#bsky_appview`, 'content-type': 'application/json' } }, 400, 'InvalidEmail', /./],
    ['/xrpc/com.example.unknown.method', header(`${APPVIEW_DID}#bsky_appview`), 400, 'InvalidRequest', /not a query or procedure of any lexicon/],
    ['/xrpc/app.bsky.feed.post', header(`${APPVIEW_DID}#bsky_appview`), 400, 'InvalidRequest', /not a query or procedure/],
    ['/xrpc/app.bsky.feed.getTimeline', header('#bsky_appview'), 400, 'InvalidRequest', /no did specified/],
    ['/xrpc/app.bsky.feed.getTimeline', header(APPVIEW_DID), 400, 'InvalidRequest', /no service id/],
    ['/xrpc/app.bsky.feed.getTimeline', header(`${APPVIEW_DID}#a#b`), 400, 'InvalidRequest', /invalid proxy header/],
    ['/xrpc/app.bsky.feed.getTimeline', header(`${keyless}#bsky_appview`), 400, 'InvalidRequest', /could not resolve proxy did service url/],
    ['/xrpc/app.bsky.feed.getTimeline', header('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), 400, 'InvalidRequest', /no service id/],
    ['/xrpc/app.bsky.feed.getTimeline', header('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#bsky_appview'), 400, 'InvalidRequest', /could not resolve proxy did$/],
    ['/xrpc/app.bsky.feed.getTimeline', header('did:example:123#bsky_appview'), 400, 'InvalidRequest', /could not resolve proxy did$/],
  ]
  for (const [path, opts, status, error, message] of cases) {
    const res = await call(path, opts)
    assert.is(res.status, status, `${path} ${JSON.stringify(opts)}: ${res.text}`)
    assert.is(res.json.error, error, path)
    assert.match(res.json.message, message)
  }
  assert.is(appView.calls.length + appView.refused.length + appView.connections, before, 'nothing reached a service')
  // a method this server answers itself ignores the header, as the reference does
  const own = await call(`/xrpc/com.atproto.repo.describeRepo?repo=${alice.did}`, header('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#bsky_appview'))
  assert.is(own.status, 200)
  assert.is(own.json.did, alice.did)
})

test('request bodies over the limit are refused: a declared length at once, a chunked body once it passes the limit', async () => {
  const big = '{"actor":"' + 'x'.repeat(70 * 1024) + '"}'
  const declared = await call('/xrpc/app.bsky.graph.muteActor', { body: big, headers: { 'content-type': 'application/json' } })
  assert.is(declared.status, 413)
  assert.is(declared.json.error, 'PayloadTooLarge')
  let upstreamGot = 0
  appView.script = (req, _res, c) => {
    if (c.nsid !== 'app.bsky.graph.muteActor') return false
    req.on('data', (d: Buffer) => (upstreamGot += d.length))
    return true
  }
  const chunked = await postInParts('app.bsky.graph.muteActor', (req) => {
    for (let i = 0; i < 8; i++) req.write(Buffer.alloc(16 * 1024, 'x'))
    req.end()
  })
  assert.is(chunked.status, 413, chunked.body)
  assert.is(JSON.parse(chunked.body).error, 'PayloadTooLarge')
  assert.ok(upstreamGot <= 64 * 1024, `the AppView got ${upstreamGot} bytes`)
})

test('answers over PDS_PROXY_MAX_RESPONSE_SIZE: a declared length is 502, a longer body is cut', async () => {
  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(9 * 1024 * 1024) })
    res.write('{')
    return true
  }
  const declared = await call('/xrpc/app.bsky.feed.getTimeline')
  assert.is(declared.status, 502)
  assert.is(declared.json.error, 'UpstreamFailure')
  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    void (async () => {
      for (let i = 0; i < 40 && !res.destroyed; i++) {
        if (!res.write(Buffer.alloc(256 * 1024, ' '))) await new Promise((r) => res.once('drain', r))
      }
      res.end()
    })()
    return true
  }
  const streamed = await fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` } })
  assert.is(streamed.status, 200)
  const cut = await streamed.arrayBuffer().then(
    (b) => `complete: ${b.byteLength}`,
    () => 'cut',
  )
  assert.is(cut, 'cut')
})

test('AppView down: 502 UpstreamFailure; slow to answer: 504 UpstreamTimeout; a body that stops: the answer is cut', async () => {
  appView.script = () => true // takes the call and never answers
  const slow = await call('/xrpc/app.bsky.feed.getTimeline')
  assert.is(slow.status, 504)
  assert.is(slow.json.error, 'UpstreamTimeout')

  appView.script = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"feed":[')
    return true
  }
  const stalled = await fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` } })
  assert.is(stalled.status, 200)
  assert.is(await stalled.text().then(() => 'complete', () => 'cut'), 'cut')

  // a port nothing listens on
  const closed = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port
      s.close(() => resolve(port))
    })
  })
  const down = await startNetwork({ PDS_BSKY_APP_VIEW_URL: `http://127.0.0.1:${closed}`, PDS_BSKY_APP_VIEW_DID: APPVIEW_DID })
  try {
    const bob = await down.createAccount('bob')
    const res = await fetch(`${down.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${bob.agent.session!.accessJwt}` } })
    assert.is(res.status, 502)
    assert.is(((await res.json()) as any).error, 'UpstreamFailure')
    const err = await bob.agent.getTimeline().catch((e: any) => e)
    assert.is(err.error, 'UpstreamFailure')
  } finally {
    await down.close()
  }
})

test('a client that goes away mid-answer: the connection to the AppView is closed too', async () => {
  let upstreamClosed!: () => void
  const closed = new Promise<void>((r) => (upstreamClosed = r))
  appView.script = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"feed":[')
    req.socket.on('close', () => upstreamClosed())
    return true
  }
  const ac = new AbortController()
  const res = await fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` }, signal: ac.signal })
  const reader = res.body!.getReader()
  await reader.read()
  ac.abort()
  await closed
})

test('a client that goes away before the AppView answers: the call to the AppView is given up too', async () => {
  let upstreamClosed!: () => void
  const closed = new Promise<void>((r) => (upstreamClosed = r))
  let asked!: () => void
  const reached = new Promise<void>((r) => (asked = r))
  appView.script = (req) => {
    req.socket.on('close', () => upstreamClosed())
    asked()
    return true // never answers
  }
  const ac = new AbortController()
  const pending = fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, { headers: { authorization: `Bearer ${alice.agent.session!.accessJwt}` }, signal: ac.signal })
  await reached
  ac.abort()
  await pending.catch(() => null)
  // well before PDS_PROXY_HEADERS_TIMEOUT (1.5 s here) would end it
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the call to the AppView was not given up')), 500))])
})

test('registerPush goes to the notification service the body names, with a token for it; its errors and timeouts come back', async () => {
  const push = { serviceDid: APPVIEW_DID, token: 'device-token-1', platform: 'ios', appId: 'xyz.blueskyweb.app' }
  let received: any
  appView.script = (req, res, c) => {
    if (c.nsid !== 'app.bsky.notification.registerPush') return false
    let text = ''
    req.on('data', (d: Buffer) => (text += d))
    req.on('end', () => {
      received = JSON.parse(text)
      res.writeHead(200).end()
    })
    return true
  }
  await alice.agent.app.bsky.notification.registerPush(push)
  assert.equal(received, push)
  const c = appView.calls.at(-1)!
  assert.is(c.aud, APPVIEW_DID)
  assert.is(c.lxm, 'app.bsky.notification.registerPush')
  assert.is(c.iss, alice.did)

  appView.script = (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidAppId', message: 'unknown app' }))
    return true
  }
  const refused = await call('/xrpc/app.bsky.notification.registerPush', { body: JSON.stringify(push), headers: { 'content-type': 'application/json' } })
  assert.is(refused.status, 400)
  assert.equal(refused.json, { error: 'InvalidAppId', message: 'unknown app' })

  appView.script = () => true // never answers
  const slow = await call('/xrpc/app.bsky.notification.registerPush', { body: JSON.stringify(push), headers: { 'content-type': 'application/json' } })
  assert.is(slow.status, 504)
  assert.is(slow.json.error, 'UpstreamTimeout')

  // a service DID whose document names no notification service: nothing is sent
  const before = appView.calls.length + appView.connections
  const keyless = await createKeylessDid(net.plc.url, 'nopush.example.com')
  const none = await call('/xrpc/app.bsky.notification.registerPush', { body: JSON.stringify({ ...push, serviceDid: keyless }), headers: { 'content-type': 'application/json' } })
  assert.is(none.status, 400)
  assert.is(none.json.error, 'InvalidRequest')
  assert.match(none.json.message, /could not resolve proxy did service url/)
  const anonymous = await call('/xrpc/app.bsky.notification.registerPush', { token: null, body: JSON.stringify(push), headers: { 'content-type': 'application/json' } })
  assert.is(anonymous.status, 401)
  assert.is(appView.calls.length + appView.connections, before)
})

test('no default service configured: 501 MethodNotImplemented naming the variables; the header still works', async () => {
  const bare = await startNetwork()
  try {
    const bob = await bare.createAccount('bob')
    const token = bob.agent.session!.accessJwt
    for (const [path, variable] of [
      ['/xrpc/app.bsky.feed.getTimeline', 'PDS_BSKY_APP_VIEW_URL'],
      ['/xrpc/chat.bsky.convo.listConvos', 'PDS_BSKY_CHAT_URL'],
      ['/xrpc/com.atproto.moderation.createReport', 'PDS_REPORT_SERVICE_URL'],
    ] as const) {
      const post = path.endsWith('createReport')
      const res = await fetch(`${bare.url}${path}`, {
        method: post ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${token}`, ...(post ? { 'content-type': 'application/json' } : {}) },
        body: post ? '{}' : undefined,
      })
      assert.is(res.status, 501, path)
      const body = (await res.json()) as any
      assert.is(body.error, 'MethodNotImplemented')
      assert.ok(body.message.includes(variable), body.message)
    }
    // methods with no default service answer as before
    const admin = await fetch(`${bare.url}/xrpc/com.atproto.admin.searchAccounts?email=x`, { headers: { authorization: `Bearer ${token}` } })
    assert.is(admin.status, 501)
  } finally {
    await bare.close()
  }
})

test('a service named by URL and DID must have both, an http(s) URL and a DID: start-up is refused otherwise', async () => {
  const base = { PDS_DATA_DIRECTORY: net.dataDir, PDS_JWT_SECRET: 'x'.repeat(32), PDS_ADMIN_PASSWORD: 'y'.repeat(32) }
  for (const [env, message] of [
    [{ PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app' }, /PDS_BSKY_APP_VIEW_URL and PDS_BSKY_APP_VIEW_DID must be set together/],
    [{ PDS_BSKY_CHAT_DID: 'did:web:api.bsky.chat' }, /PDS_BSKY_CHAT_URL and PDS_BSKY_CHAT_DID/],
    [{ PDS_REPORT_SERVICE_URL: 'ftp://mod.example', PDS_REPORT_SERVICE_DID: 'did:plc:ar7c4by46qjdydhdevvrndac' }, /must be an http\(s\) URL/],
    [{ PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app', PDS_BSKY_APP_VIEW_DID: 'api.bsky.app' }, /PDS_BSKY_APP_VIEW_DID is not a DID/],
  ] as const) {
    const err = await loadConfig({ ...base, ...env }).catch((e: unknown) => e)
    assert.instance(err, ConfigError)
    assert.match((err as Error).message, message)
  }
  const ok = await loadConfig({ ...base, PDS_BSKY_APP_VIEW_URL: 'https://api.bsky.app/', PDS_BSKY_APP_VIEW_DID: 'did:web:api.bsky.app' })
  assert.equal(ok.bskyAppView, { url: 'https://api.bsky.app', did: 'did:web:api.bsky.app' })
})

test.run()
