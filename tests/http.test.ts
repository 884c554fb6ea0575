// The HTTP edge: every failure is an XRPC JSON error, limits are enforced early, and the
// server stays up whatever a client sends.
import { connect } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startNetwork, type TestNetwork } from './_harness.ts'

let net: TestNetwork
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>

/** Sends raw bytes and returns the raw response text (or '' if the server closed silently). */
function rawRequest(port: number, data: string | Buffer, opts: { endAfterWrite?: boolean; waitMs?: number } = {}): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const sock = connect(port, '127.0.0.1')
    let text = ''
    sock.on('data', (d) => (text += d.toString('latin1')))
    sock.on('close', () => resolve({ text, ms: Date.now() - start }))
    sock.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve({ text, ms: Date.now() - start }) : reject(err)))
    sock.write(data)
    if (opts.endAfterWrite) sock.end()
    setTimeout(() => sock.destroy(), opts.waitMs ?? 10_000)
  })
}

function parseResponse(text: string): { status: number; headers: string; body: any } {
  const [head, ...rest] = text.split('\r\n\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
  let body: any = rest.join('\r\n\r\n')
  // chunked bodies: take the JSON object inside
  const m = /\{[\s\S]*\}/.exec(body)
  body = m ? JSON.parse(m[0]) : body
  return { status, headers: head.toLowerCase(), body }
}

async function postJson(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${net.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.agent.session!.accessJwt}`, ...headers },
    body,
  })
  return { status: res.status, body: (await res.json()) as any }
}

test.before(async () => {
  net = await startNetwork({ PDS_REQUEST_TIMEOUT_MS: '1500', PDS_JSON_BODY_LIMIT: String(256 * 1024) })
  alice = await net.createAccount('alice')
})

test.after(async () => {
  await net.close()
})

test('_health answers the version', async () => {
  const res = await fetch(`${net.url}/xrpc/_health`)
  assert.is(res.status, 200)
  assert.equal(await res.json(), { version: net.pds.cfg.version })
})

test('unknown methods are MethodNotImplemented with a JSON body', async () => {
  const res = await fetch(`${net.url}/xrpc/com.example.nothing.here`)
  assert.is(res.status, 501)
  const body = (await res.json()) as any
  assert.is(body.error, 'MethodNotImplemented')
  assert.type(body.message, 'string')
})

test('every /xrpc/ request gets an XRPC JSON answer: known but unimplemented methods are 501 MethodNotImplemented', async () => {
  const token = alice.agent.session!.accessJwt
  const cases: [string, RequestInit, number, string][] = [
    ['/xrpc/app.bsky.actor.getPreferences', { headers: { authorization: `Bearer ${token}` } }, 501, 'MethodNotImplemented'],
    ['/xrpc/com.atproto.admin.searchAccounts?email=x', {}, 501, 'MethodNotImplemented'],
    ['/xrpc/com.atproto.server.reserveSigningKey', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 501, 'MethodNotImplemented'],
    ['/xrpc/com.atproto.label.subscribeLabels', {}, 501, 'MethodNotImplemented'],
    // a known method with the wrong HTTP method is InvalidRequest, as for implemented ones
    ['/xrpc/com.atproto.server.reserveSigningKey', {}, 400, 'InvalidRequest'],
    ['/xrpc/com.example.unknown.method', { method: 'POST' }, 501, 'MethodNotImplemented'],
    ['/xrpc/', {}, 501, 'MethodNotImplemented'],
  ]
  for (const [path, init, status, error] of cases) {
    const res = await fetch(`${net.url}${path}`, init)
    assert.is(res.status, status, path)
    assert.ok(res.headers.get('content-type')?.startsWith('application/json'), `${path}: ${res.headers.get('content-type')}`)
    const body = (await res.json()) as any
    assert.is(body.error, error, path)
    assert.type(body.message, 'string')
    assert.is(res.headers.get('access-control-allow-origin'), '*', path)
  }
})

test('atproto-proxy: refused with a 4xx XRPC error for methods this server does not answer, ignored for its own', async () => {
  const token = alice.agent.session!.accessJwt
  const proxied = await fetch(`${net.url}/xrpc/app.bsky.feed.getTimeline`, {
    headers: { authorization: `Bearer ${token}`, 'atproto-proxy': 'did:web:api.bsky.app#bsky_appview' },
  })
  assert.is(proxied.status, 400)
  const body = (await proxied.json()) as any
  assert.is(body.error, 'InvalidRequest')
  assert.match(body.message, /proxy/)
  const unknown = await fetch(`${net.url}/xrpc/com.example.not.known`, { headers: { 'atproto-proxy': 'did:web:example.com#svc' } })
  assert.is(unknown.status, 400)
  assert.is(((await unknown.json()) as any).error, 'InvalidRequest')
  // a method this server implements is answered here whatever the header says (as the reference does)
  const own = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${alice.did}`, {
    headers: { 'atproto-proxy': 'did:web:api.bsky.app#bsky_appview' },
  })
  assert.is(own.status, 200)
  assert.is(((await own.json()) as any).did, alice.did)
})

test('compressed JSON bodies are decoded; a compressed body over the limit is 413 however small it was sent', async () => {
  const { gzipSync, brotliCompressSync } = await import('node:zlib')
  const coll = 'com.example.gzip'
  for (const [encoding, compress] of [['gzip', gzipSync], ['br', brotliCompressSync]] as const) {
    const body = JSON.stringify({ repo: alice.did, collection: coll, record: { text: `sent with ${encoding}` } })
    const res = await postJson('/xrpc/com.atproto.repo.createRecord', compress(body), { 'content-encoding': encoding })
    assert.is(res.status, 200, JSON.stringify(res.body))
  }
  const list = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: coll })
  assert.equal(list.data.records.map((r) => (r.value as any).text).sort(), ['sent with br', 'sent with gzip'])
  // 300 KB of JSON that gzips to ~1 KB: the limit is on the decoded bytes (256 KB here)
  const bomb = gzipSync(JSON.stringify({ repo: alice.did, collection: coll, record: { t: 'x'.repeat(300 * 1024) } }))
  assert.ok(bomb.length < 4096)
  const res = await postJson('/xrpc/com.atproto.repo.createRecord', bomb, { 'content-encoding': 'gzip' })
  assert.is(res.status, 413)
  assert.is(res.body.error, 'PayloadTooLarge')
  const corrupt = await postJson('/xrpc/com.atproto.repo.createRecord', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })
  assert.is(corrupt.status, 400)
  assert.is(corrupt.body.error, 'InvalidRequest')
  const unknownEncoding = await postJson('/xrpc/com.atproto.repo.createRecord', '{}', { 'content-encoding': 'zstd-but-not-really' })
  assert.is(unknownEncoding.status, 415)
  assert.is((await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: coll })).data.records.length, 2)
})

test('a request refused before its body is read (auth) is answered at once and the connection closed', async () => {
  const raw =
    `POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Content-Length: 1000\r\n\r\n{"repo":`
  const { text, ms } = await rawRequest(net.pds.http.port, raw, { waitMs: 5000 })
  const res = parseResponse(text)
  assert.is(res.status, 401)
  assert.is(res.body.error, 'AuthMissing')
  assert.ok(res.headers.includes('connection: close'))
  // closed by the server, well before the 1.5 s body timeout
  assert.ok(ms < 1500, `closed after ${ms} ms`)
  assert.is((text.match(/HTTP\/1\.1/g) ?? []).length, 1, 'one answer only')
})

test('method calls and everything around them answer as an express app would', async () => {
  const did = alice.did
  // a query, answered with CORS, a JSON content type and no ETag
  const q = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${did}`, { headers: { origin: 'https://app.example' } })
  assert.is(q.status, 200)
  assert.is(q.headers.get('access-control-allow-origin'), '*')
  assert.is(q.headers.get('content-type'), 'application/json; charset=utf-8')
  assert.is(q.headers.get('etag'), null)
  assert.is(q.headers.get('x-powered-by'), null)
  assert.is(((await q.json()) as any).did, did)
  // the wrong HTTP method for a known method is InvalidRequest, either way round
  const getProcedure = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`)
  assert.is(getProcedure.status, 400)
  assert.is(((await getProcedure.json()) as any).error, 'InvalidRequest')
  const postQuery = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${did}`, { method: 'POST' })
  assert.is(postQuery.status, 400)
  assert.is(((await postQuery.json()) as any).error, 'InvalidRequest')
  // a CORS preflight
  const pre = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  })
  assert.is(pre.status, 204)
  assert.is(pre.headers.get('access-control-allow-origin'), '*')
  assert.ok(pre.headers.get('access-control-allow-methods')?.includes('POST'))
  // bad params and handler errors keep their XRPC names; a missing parameter is InvalidRequest
  const missing = await fetch(`${net.url}/xrpc/com.atproto.repo.getRecord?repo=${did}`)
  assert.is(missing.status, 400)
  assert.is(((await missing.json()) as any).error, 'InvalidRequest')
  const notFound = await fetch(`${net.url}/xrpc/com.atproto.repo.getRecord?repo=${did}&collection=com.example.none&rkey=nothing`)
  assert.is(notFound.status, 400)
  assert.is(((await notFound.json()) as any).error, 'RecordNotFound')
  // a body sent to a query, and a procedure's missing or non-JSON body, are InvalidRequest
  const withBody = parseResponse(
    (
      await rawRequest(
        net.pds.http.port,
        `GET /xrpc/com.atproto.repo.describeRepo?repo=${did} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello`,
      )
    ).text,
  )
  assert.is(withBody.status, 400)
  assert.is(withBody.body.error, 'InvalidRequest')
  const token = alice.agent.session!.accessJwt
  const noBody = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  assert.is(noBody.status, 400)
  assert.is(((await noBody.json()) as any).error, 'InvalidRequest')
  const emptyJson = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '0' },
  })
  assert.is(emptyJson.status, 400)
  assert.is(((await emptyJson.json()) as any).error, 'InvalidRequest')
  const textBody = await fetch(`${net.url}/xrpc/com.atproto.repo.createRecord`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
    body: 'hello',
  })
  assert.is(textBody.status, 400)
  assert.is(((await textBody.json()) as any).error, 'InvalidRequest')
  // HEAD of a query: the headers of the GET, no body
  const head = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${did}`, { method: 'HEAD' })
  assert.is(head.status, 200)
  assert.is(await head.text(), '')
  // repeated query parameters are arrays; integers and booleans are decoded by the lexicon
  const listed = await fetch(`${net.url}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=com.example.none&limit=2&reverse=true`)
  assert.is(listed.status, 200)
  const badLimit = await fetch(`${net.url}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=com.example.none&limit=1000`)
  assert.is(badLimit.status, 400)
  assert.is(((await badLimit.json()) as any).error, 'InvalidRequest')
  const proto = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo?repo=${did}&__proto__=x`)
  assert.is(proto.status, 400)
  // errors carry the CORS header too
  assert.is(badLimit.headers.get('access-control-allow-origin'), '*')
  // express matches a trailing slash too, and the call goes through it
  const slash = await fetch(`${net.url}/xrpc/com.atproto.repo.describeRepo/?repo=${did}`)
  assert.is(slash.status, 200)
  assert.is(((await slash.json()) as any).did, did)
})

test('malformed JSON, invalid UTF-8 and lone surrogates are 400 and store nothing', async () => {
  const coll = 'com.example.edge'
  const cases: [string, string | Buffer][] = [
    ['malformed', '{"repo": "x", '],
    ['invalid utf-8', Buffer.concat([Buffer.from(`{"repo":"${alice.did}","collection":"${coll}","record":{"t":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')])],
    ['lone surrogate', `{"repo":"${alice.did}","collection":"${coll}","record":{"t":"\\ud800"}}`],
    ['lone surrogate in a key', `{"repo":"${alice.did}","collection":"${coll}","record":{"\\udfff":"x"}}`],
  ]
  for (const [name, body] of cases) {
    const res = await postJson('/xrpc/com.atproto.repo.createRecord', body)
    assert.is(res.status, 400, name)
    assert.is(res.body.error, 'InvalidRequest', name)
    assert.type(res.body.message, 'string')
  }
  const list = await net.agent().com.atproto.repo.listRecords({ repo: alice.did, collection: coll })
  assert.is(list.data.records.length, 0)
})

test('a body over the limit is 413; a declared oversize Content-Length is refused before the body arrives', async () => {
  const big = JSON.stringify({ repo: alice.did, collection: 'com.example.edge', record: { t: 'x'.repeat(300 * 1024) } })
  const res = await postJson('/xrpc/com.atproto.repo.createRecord', big)
  assert.is(res.status, 413)
  assert.is(res.body.error, 'PayloadTooLarge')

  // declare 100 MiB and send nothing: the answer must come at once
  const { text } = await rawRequest(
    net.pds.http.port,
    `POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`,
    { waitMs: 5000 },
  )
  // with no body ever sent, waiting for it would end in the 1.5 s request timeout (408): a 413
  // means the declared length alone was refused
  const parsed = parseResponse(text)
  assert.is(parsed.status, 413)
  assert.is(parsed.body.error, 'PayloadTooLarge')

  // chunked (no Content-Length) over the limit is refused too
  const chunk = 'x'.repeat(64 * 1024)
  let raw =
    `POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Authorization: Bearer ${alice.agent.session!.accessJwt}\r\nTransfer-Encoding: chunked\r\n\r\n`
  for (let i = 0; i < 6; i++) raw += `${chunk.length.toString(16)}\r\n${chunk}\r\n`
  raw += '0\r\n\r\n'
  const chunked = parseResponse((await rawRequest(net.pds.http.port, raw, { waitMs: 5000 })).text)
  assert.is(chunked.status, 413)
  assert.is(chunked.body.error, 'PayloadTooLarge')
})

test('oversized URLs and headers get an XRPC JSON error, not a bare Node page', async () => {
  const longUrl = `GET /xrpc/com.atproto.repo.listRecords?repo=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`
  const r1 = parseResponse((await rawRequest(net.pds.http.port, longUrl)).text)
  assert.is(r1.status, 431)
  assert.is(r1.body.error, 'InvalidRequest')
  assert.ok(r1.headers.includes('application/json'))
  const bigHeader = `GET /xrpc/_health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`
  const r2 = parseResponse((await rawRequest(net.pds.http.port, bigHeader)).text)
  assert.is(r2.status, 431)
  assert.type(r2.body.message, 'string')
  const garbage = parseResponse((await rawRequest(net.pds.http.port, 'NOT HTTP AT ALL\r\n\r\n')).text)
  assert.is(garbage.status, 400)
  assert.is(garbage.body.error, 'InvalidRequest')
})

test('a never-ending body times out with an XRPC JSON error', async () => {
  const start =
    `POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Authorization: Bearer ${alice.agent.session!.accessJwt}\r\nContent-Length: 1000\r\n\r\n{"repo":`
  const { text, ms } = await rawRequest(net.pds.http.port, start, { waitMs: 8000 })
  const res = parseResponse(text)
  assert.is(res.status, 408)
  assert.is(res.body.error, 'RequestTimeout')
  assert.ok(ms >= 1000 && ms < 7000, `timed out after ${ms} ms`)
})

test('a client that goes away in the middle of its body changes nothing', async () => {
  const coll = 'com.example.cutoff'
  const body = JSON.stringify({ repo: alice.did, collection: coll, record: { text: 'never finished' } })
  const head =
    `POST /xrpc/com.atproto.repo.createRecord HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Authorization: Bearer ${alice.agent.session!.accessJwt}\r\nContent-Length: ${body.length}\r\n\r\n`
  // the client half-closes after 20 bytes of the body: a truncated request, answered in JSON
  const { text } = await rawRequest(net.pds.http.port, head + body.slice(0, 20), { endAfterWrite: true, waitMs: 2000 })
  const res = parseResponse(text)
  assert.is(res.status, 400)
  assert.is(res.body.error, 'InvalidRequest')
  const list = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: coll })
  assert.is(list.data.records.length, 0)
})

test('the server is still up and serving after all of that', async () => {
  const res = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.edge', record: { ok: true } })
  assert.ok(res.data.cid)
  const health = await fetch(`${net.url}/xrpc/_health`)
  assert.is(health.status, 200)
})

test.run()
