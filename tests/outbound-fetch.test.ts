// src/identity/safe-fetch.ts, the outbound fetch for hosts a client chose, under the exact
// policies the server uses for handles (wellKnownFetchPolicy) and did:web (didWebFetchPolicy).
// HTTPS on 443 cannot be served here, so where a test must reach its local target it widens
// only the protocol and port of that policy (`reachable`); the address check, body limit,
// timeout and redirect handling stay the server's. Names resolve through a DNS server of the
// test's own on 127.0.0.1.
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { createGzip } from 'node:zlib'
import type { Resolver } from 'node:dns/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfig } from '../src/config.ts'
import { DidResolveError, DidResolver, didWebFetchPolicy } from '../src/identity/did-resolver.ts'
import { wellKnownFetchPolicy } from '../src/identity/handle-resolver.ts'
import {
  createOutboundDns,
  createOutboundFetch,
  isPublicAddress,
  OutboundFetchError,
  publicAddressLookup,
  type OutboundPolicy,
} from '../src/identity/safe-fetch.ts'
import { startDnsServer, type DnsRecords, type DnsServer } from './_dns-server.ts'
import { startHttpTarget, type HttpTarget } from './_http-target.ts'

const ZONE = 'ssrf-check.net'
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'

/** names that resolve (wholly or partly) to addresses a client must not make us fetch */
const NON_PUBLIC: Record<string, DnsRecords> = {
  loopback: { A: ['127.0.0.1'] },
  'loopback-range': { A: ['127.8.9.10'] },
  unspecified: { A: ['0.0.0.0'] },
  'private-10': { A: ['10.0.0.1'] },
  'private-172': { A: ['172.16.5.4'] },
  'private-192': { A: ['192.168.1.1'] },
  cgnat: { A: ['100.64.0.1'] },
  metadata: { A: ['169.254.169.254'] },
  multicast: { A: ['224.0.0.1'] },
  broadcast: { A: ['255.255.255.255'] },
  'v6-loopback': { AAAA: ['::1'] },
  'v6-unspecified': { AAAA: ['::'] },
  'v6-unique-local': { AAAA: ['fd00::1'] },
  'v6-link-local': { AAAA: ['fe80::1'] },
  'v6-multicast': { AAAA: ['ff02::1'] },
  'v6-mapped-loopback': { AAAA: ['::ffff:127.0.0.1'] },
  'v6-mapped-metadata': { AAAA: ['::ffff:169.254.169.254'] },
  // one public address does not make the others acceptable
  'mixed-public-first': { A: ['203.0.114.1', '127.0.0.1'] },
  'mixed-families': { A: ['203.0.114.1'], AAAA: ['::1'] },
}

let dnsServer: DnsServer
let resolver: Resolver
let target: HttpTarget
const tmpDirs: string[] = []

function reachable(policy: OutboundPolicy): OutboundPolicy {
  return { ...policy, protocols: ['http:'], allowCustomPort: true }
}

async function failureOf(p: Promise<unknown>): Promise<OutboundFetchError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  )
  assert.instance(err, OutboundFetchError, 'expected the fetch to fail')
  return err as OutboundFetchError
}

/** Runs `work` and reports how far RSS rose at its peak, and how far heap + buffers rose. */
async function memoryAround<T>(
  work: () => Promise<T>,
): Promise<{ outcome: T | unknown; peakRssMb: number; heapMb: number }> {
  const before = process.memoryUsage()
  let peak = before.rss
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2)
  const outcome = await work().catch((err: unknown) => err)
  clearInterval(sampler)
  const after = process.memoryUsage()
  peak = Math.max(peak, after.rss)
  const mb = (n: number) => n / 2 ** 20
  return {
    outcome,
    peakRssMb: mb(peak - before.rss),
    heapMb: mb(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers),
  }
}

/** `mb` MiB of zeros, gzip-compressed (about 1/1000 of that), made without holding the zeros. */
async function gzipBomb(mb: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 })
  const chunks: Buffer[] = []
  gz.on('data', (c: Buffer) => chunks.push(c))
  const zeros = Buffer.alloc(1 << 20)
  for (let i = 0; i < mb; i++) gz.write(zeros)
  gz.end()
  await once(gz, 'end')
  return Buffer.concat(chunks)
}

const BOMB_MB = 100
let bomb: Buffer

/** what the stand-in hosts answer, by path */
function routes(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/bomb' || req.url === '/.well-known/did.json') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    res.end(bomb)
  } else if (req.url === '/declared-huge') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(10 * 2 ** 20) })
    res.write('did:plc:')
  } else if (req.url === '/silent') {
    // accepts the request and never answers
  } else if (req.url === '/dribble') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('did:')
  } else if (req.url === '/keep-alive') {
    res.writeHead(200, { 'content-type': 'text/plain', 'keep-alive': 'timeout=600' })
    res.end(DID)
  } else {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end(DID)
  }
}

/** Runs `fn` against a stand-in host of its own, so that its connections are its own. */
async function withOwnTarget(fn: (t: HttpTarget) => Promise<void>): Promise<void> {
  const own = await startHttpTarget(routes)
  try {
    await fn(own)
  } finally {
    await own.close()
  }
}

test.before(async () => {
  dnsServer = await startDnsServer((name) => {
    if (name === `public.${ZONE}`) return { A: ['203.0.114.1', '203.0.114.2'], AAAA: ['2606:4700::1'] }
    const label = name.endsWith(`.${ZONE}`) ? name.slice(0, -ZONE.length - 1) : undefined
    return (label !== undefined && NON_PUBLIC[label]) || 'nxdomain'
  })
  resolver = createOutboundDns()
  resolver.setServers([dnsServer.address])
  bomb = await gzipBomb(BOMB_MB)
  target = await startHttpTarget(routes)
})

test.after(async () => {
  await target?.close()
  await dnsServer?.close()
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true })
})

test('non-public addresses are refused before any connection: literal hosts and every address a name resolves to', async () => {
  const fetchIt = createOutboundFetch(
    reachable(wellKnownFetchPolicy({ devMode: false, disableSsrfProtection: false })),
    resolver,
  )
  const connectionsBefore = target.connections
  const port = target.port
  const literals = [
    `http://127.0.0.1:${port}/`,
    `http://0.0.0.0:${port}/`, // connecting to 0.0.0.0 reaches a listener on 127.0.0.1
    `http://2130706433:${port}/`, // 127.0.0.1 as one number; the URL parser normalises it
    `http://0x7f.1:${port}/`,
    `http://[::1]:${port}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://[::ffff:7f00:1]:${port}/`,
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://100.64.0.1/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
  ]
  for (const url of literals) {
    const err = await failureOf(fetchIt(url))
    assert.is(err.kind, 'refused', `${url}: ${err.message}`)
  }
  for (const label of Object.keys(NON_PUBLIC)) {
    const name = `${label}.${ZONE}`
    const err = await failureOf(fetchIt(`http://${name}:${port}/.well-known/atproto-did`))
    assert.is(err.kind, 'refused', `${name}: ${err.message}`)
    // the addresses were looked up once (one question per family), and that lookup decided
    const asked = dnsServer.questions.filter((q) => q.name === name)
    assert.ok(asked.length >= 1, `${name} was looked up`)
    assert.ok(
      asked.filter((q) => q.type === 'A').length <= 1 && asked.filter((q) => q.type === 'AAAA').length <= 1,
      name,
    )
  }
  assert.is(target.connections, connectionsBefore, 'the target saw no connection')
})

test('the address check: public unicast only, judged on every address of the answer', async () => {
  for (const ok of ['8.8.8.8', '203.0.114.1', '2606:4700::1', '::ffff:8.8.8.8']) assert.ok(isPublicAddress(ok), ok)
  const refused = [
    ...Object.values(NON_PUBLIC).flatMap((r) => [...(r.A ?? []), ...(r.AAAA ?? [])]),
    '198.51.100.1',
    '240.0.0.1',
  ]
  for (const bad of refused.filter((a) => a !== '203.0.114.1')) assert.not.ok(isPublicAddress(bad), bad)

  const lookup = publicAddressLookup(resolver)
  const ask = (host: string, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown }>((resolve) =>
      lookup(host, { all }, (err, address) => resolve({ err, address })),
    )
  const pub = await ask(`public.${ZONE}`, true)
  assert.is(pub.err, null)
  assert.equal(pub.address, [
    { address: '203.0.114.1', family: 4 },
    { address: '203.0.114.2', family: 4 },
    { address: '2606:4700::1', family: 6 },
  ])
  assert.is((await ask(`public.${ZONE}`, false)).address, '203.0.114.1')
  assert.ok((await ask(`mixed-public-first.${ZONE}`, true)).err)
  assert.ok((await ask(`nowhere.${ZONE}`, true)).err)
})

test('protection off (PDS_DISABLE_SSRF_PROTECTION, or dev mode for handles): the same loopback target is reached', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'carrel-ssrf-'))
  tmpDirs.push(dataDir)
  const env = { PDS_DATA_DIRECTORY: dataDir, PDS_JWT_SECRET: 'x'.repeat(32), PDS_ADMIN_PASSWORD: 'y'.repeat(32) }
  const publicServer = await loadConfig({ ...env, PDS_HOSTNAME: 'pds.example.org' })
  const unprotected = await loadConfig({ ...env, PDS_HOSTNAME: 'pds.example.org', PDS_DISABLE_SSRF_PROTECTION: 'true' })
  const devServer = await loadConfig({ ...env, PDS_HOSTNAME: 'localhost' })
  assert.is(publicServer.disableSsrfProtection, false)
  assert.is(unprotected.disableSsrfProtection, true)

  const url = `${target.url}/.well-known/atproto-did`
  const refused = await failureOf(createOutboundFetch(reachable(wellKnownFetchPolicy(publicServer)), resolver)(url))
  assert.is(refused.kind, 'refused')
  assert.is(
    (await failureOf(createOutboundFetch(reachable(didWebFetchPolicy(devServer)), resolver)(url))).kind,
    'refused',
  )

  for (const policy of [
    wellKnownFetchPolicy(unprotected),
    wellKnownFetchPolicy(devServer),
    didWebFetchPolicy(unprotected),
  ]) {
    const before = target.requests.length
    const res = await createOutboundFetch(reachable(policy), resolver)(url)
    assert.is(res.status, 200)
    assert.is(Buffer.from(res.body).toString(), DID)
    assert.is(target.requests.length, before + 1)
  }
})

test("the server's policies: HTTPS on 443 only and no credentials in the URL (the proxy's rules), whatever the address check says", async () => {
  const connectionsBefore = target.connections
  const open = { devMode: true, disableSsrfProtection: true }
  for (const policy of [wellKnownFetchPolicy(open), didWebFetchPolicy(open)]) {
    const fetchIt = createOutboundFetch(policy, resolver)
    for (const url of [
      `https://127.0.0.1:${target.port}/`,
      `http://127.0.0.1:${target.port}/`,
      'http://127.0.0.1/',
      'ftp://127.0.0.1/',
      'file:///etc/passwd',
      'https://user:secret@127.0.0.1/',
    ]) {
      assert.is((await failureOf(fetchIt(url))).kind, 'refused', url)
    }
  }
  assert.is(target.connections, connectionsBefore, 'the target saw no connection')
})

test('a redirect is answered as it is: its target sees no request', async () => {
  const elsewhere = await startHttpTarget((_req, res) => res.end(DID))
  const redirector = await startHttpTarget((req, res) => {
    res.writeHead(req.url === '/permanent' ? 301 : 302, { location: `${elsewhere.url}/.well-known/atproto-did` })
    res.end()
  })
  try {
    const fetchIt = createOutboundFetch(
      reachable(wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false })),
      resolver,
    )
    assert.is((await fetchIt(`${redirector.url}/`)).status, 302)
    assert.is((await fetchIt(`${redirector.url}/permanent`)).status, 301)
    assert.is(redirector.requests.length, 2)
    assert.is(elsewhere.connections, 0)
  } finally {
    await redirector.close()
    await elsewhere.close()
  }
})

test(`a gzip bomb (${BOMB_MB} MiB of zeros) is cut after a few KB and memory stays flat`, async () => {
  const policy = reachable(wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false }))
  const fetchIt = createOutboundFetch(policy, resolver)
  await withOwnTarget(async (own) => {
    const run = await memoryAround(() => fetchIt(`${own.url}/bomb`))
    assert.instance(run.outcome, OutboundFetchError)
    assert.is((run.outcome as OutboundFetchError).kind, 'too-large')
    console.log(
      `  gzip bomb (${bomb.length} bytes -> ${BOMB_MB} MiB): peak RSS +${run.peakRssMb.toFixed(1)} MiB, heap+buffers +${run.heapMb.toFixed(1)} MiB`,
    )
    assert.ok(run.peakRssMb < 16, `peak RSS grew ${run.peakRssMb.toFixed(1)} MiB`)
    assert.ok(run.heapMb < 8, `heap grew ${run.heapMb.toFixed(1)} MiB`)
    assert.ok(await own.hungUp(), 'the connection was closed')
  })
})

test('a larger declared Content-Length is refused without waiting for the body', async () => {
  const fetchIt = createOutboundFetch(
    reachable(wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false })),
    resolver,
  )
  await withOwnTarget(async (own) => {
    assert.is((await failureOf(fetchIt(`${own.url}/declared-huge`))).kind, 'too-large')
    assert.ok(await own.hungUp(), 'the connection was closed')
  })
})

test('a target that never answers, or never finishes its body, times out and is hung up on', async () => {
  const fetchIt = createOutboundFetch(
    reachable(wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false })),
    resolver,
  )
  for (const path of ['/silent', '/dribble']) {
    await withOwnTarget(async (own) => {
      assert.is((await failureOf(fetchIt(`${own.url}${path}`))).kind, 'timeout', path)
      assert.ok(await own.hungUp(), `${path}: the connection was closed`)
    })
  }
})

test('no connection to a host a client named stays open after its answer', async () => {
  const fetchIt = createOutboundFetch(
    reachable(wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false })),
    resolver,
  )
  await withOwnTarget(async (own) => {
    for (let i = 0; i < 3; i++) {
      const res = await fetchIt(`${own.url}/keep-alive`)
      assert.is(Buffer.from(res.body).toString(), DID)
    }
    assert.is(own.requests.length, 3)
    assert.ok(await own.hungUp(), `${own.serving} connection(s) left open`)
  })
})

test('did:web: a loopback host is refused outside dev mode (no connection), fetched in dev mode, and bounded in size', async () => {
  const did = `did:web:localhost%3A${target.port}`
  const connectionsBefore = target.connections
  const strict = new DidResolver({ plcUrl: () => 'http://plc.invalid', dns: resolver })
  for (const d of [
    did,
    'did:web:127.0.0.1',
    'did:web:localhost',
    `did:web:loopback.${ZONE}`,
    `did:web:metadata.${ZONE}`,
  ]) {
    const err = await strict.resolve(d).then(
      () => null,
      (e: unknown) => e,
    )
    assert.instance(err, DidResolveError, d)
  }
  assert.is(target.connections, connectionsBefore, 'the target saw no connection')

  // dev mode fetches did:web:localhost%3A<port> over HTTP; the target's did.json is a gzip bomb
  const dev = new DidResolver({ plcUrl: () => 'http://plc.invalid', allowHttpLocalhost: true, dns: resolver })
  const run = await memoryAround(() => dev.resolve(did))
  assert.instance(run.outcome, DidResolveError)
  assert.match((run.outcome as Error).message, /over 65536 bytes/)
  console.log(
    `  did:web gzip bomb: peak RSS +${run.peakRssMb.toFixed(1)} MiB, heap+buffers +${run.heapMb.toFixed(1)} MiB`,
  )
  assert.ok(run.peakRssMb < 16, `peak RSS grew ${run.peakRssMb.toFixed(1)} MiB`)
  assert.is(target.connections, connectionsBefore + 1)
})

// In processes of their own: this file has used the module already. The library under it is
// loaded at the first outbound fetch; a process may or may not have used Node's fetch before.
test("an outbound fetch leaves the process's global fetch as Node set it up (a request that sets its own Content-Length still works)", async () => {
  const moduleUrl = pathToFileURL(join(import.meta.dirname, '..', 'src', 'identity', 'safe-fetch.ts')).href
  for (const fetchFirst of [false, true]) {
    const script = `
      import { createServer } from 'node:http'
      const server = createServer((req, res) => res.end(req.method))
      await new Promise((r) => server.listen(0, '127.0.0.1', r))
      const url = 'http://127.0.0.1:' + server.address().port + '/'
      if (${fetchFirst}) await (await fetch(url)).text()
      const { createOutboundDns, createOutboundFetch } = await import(${JSON.stringify(moduleUrl)})
      const slot = Symbol.for('undici.globalDispatcher.1')
      const before = globalThis[slot]
      const outbound = createOutboundFetch(
        { protocols: ['http:'], allowCustomPort: true, allowNonPublicAddresses: true, maxBodyBytes: 1024, timeoutMs: 5000 },
        createOutboundDns(),
      )
      const got = await outbound(url)
      const same = globalThis[slot] === before || before === undefined
      const post = await fetch(url, { method: 'POST', headers: { 'content-length': '0' } }).then((r) => r.text(), (e) => String(e.cause ?? e))
      console.log(JSON.stringify({ status: got.status, same, post }))
      server.close()
    `
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: join(import.meta.dirname, '..'),
      },
    )
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1) ?? '')
    assert.equal(outcome, { status: 200, same: true, post: 'POST' }, `fetch before loading: ${fetchFirst}`)
  }
})

test.run()
