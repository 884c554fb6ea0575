// npm run bench -- proxy: what service proxying adds to a call. An upstream in this process
// (a plain HTTP server on 127.0.0.1 standing in for the AppView: it answers at once and checks
// nothing, so that the difference is Carrel's work) is called directly and through Carrel (in a
// child process, PDS_BSKY_APP_VIEW_URL pointing at the upstream), each BENCH_PROXY_CALLS times
// at concurrency BENCH_PROXY_CONCURRENCY (16) over keep-alive connections:
//   small    getTimeline answered with ~2 KB of JSON, at concurrency 1 and 16: p50/p99 latency
//            direct and proxied, the difference, and Carrel's CPU per proxied call, all its
//            threads (its auth check, a fresh ES256K service-auth token, signed ahead in a worker
//            thread once the call is busy, the forwarded request). The same load through the
//            floor (bench/_proxy-floor.mjs: a Node proxy that only signs a token for each call
//            and forwards it, in a child process started with Carrel's V8 flags): what any
//            proxy that signs each call costs on this machine, so Carrel's own share shows.
//   stream   rounds of BENCH_PROXY_BIG (10) answers of 5 MiB streamed through, three one after
//            another and one all at once: throughput direct and proxied, Carrel's CPU per MiB,
//            and its RSS before and at its peak while streaming (sampled every 5 ms). A server
//            that buffered answers would grow with each round; a streaming one levels off.
//            Then BENCH_PROXY_BIG clients that read nothing for 2 s: RSS while they hold back.
// BENCH_PROXY_STREAM=0 runs the small calls only (to profile them).
import { fork } from 'node:child_process'
import { createServer, request, Agent, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createAccount, percentile, readCpuMs, serverNodeFlags, startBenchServer, type BenchServer } from './_server.ts'

const CALLS = Number(process.env.BENCH_PROXY_CALLS ?? 4000)
const CONCURRENCY = Number(process.env.BENCH_PROXY_CONCURRENCY ?? 16)
const BIG = Number(process.env.BENCH_PROXY_BIG ?? 10)
/** BENCH_PROXY_STREAM=0: the small calls only (for a profile of them) */
const STREAM = process.env.BENCH_PROXY_STREAM !== '0'
const BIG_BYTES = 5 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'x')
const SMALL = Buffer.from(
  JSON.stringify({
    cursor: '3kabcdefghij2',
    feed: Array.from({ length: 6 }, (_, i) => ({ post: { uri: `at://did:plc:bench/app.bsky.feed.post/${i}`, cid: 'bafyreib', indexedAt: new Date(0).toISOString() } })),
  }).padEnd(2048, ' '),
)

function upstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    if (req.url?.startsWith('/xrpc/app.bsky.feed.getFeed')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG_BYTES })
      let sent = 0
      const pump = () => {
        while (sent < BIG_BYTES) {
          sent += CHUNK.length
          if (!res.write(CHUNK)) return void res.once('drain', pump)
        }
        res.end()
      }
      return pump()
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': SMALL.length, 'atproto-repo-rev': '3kabcdefghij2' })
    res.end(SMALL)
  })
  server.keepAliveTimeout = 10_000
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
      }),
    ),
  )
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

/** The floor proxy (bench/_proxy-floor.mjs) in a child process, forwarding to `upstreamUrl`. */
async function startFloor(upstreamUrl: string): Promise<{ url: string; cpuMs(): number; stop(): Promise<void> }> {
  const child = fork(join(import.meta.dirname, '_proxy-floor.mjs'), [upstreamUrl], { execArgv: serverNodeFlags() })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (p) => resolve(p as number))
    child.once('exit', (code) => reject(new Error(`floor proxy exited (${code})`)))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    cpuMs: () => readCpuMs(child.pid!),
    stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.send('exit'))),
  }
}

/** One GET, its body read to the end; resolves with the bytes received. */
function get(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let n = 0
      res.on('data', (d: Buffer) => (n += d.length))
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${url}: ${res.statusCode}`))))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** `calls` GETs, `concurrency` at a time: each one's latency in ms, sorted. */
async function load(url: string, token: string, calls: number, concurrency: number): Promise<number[]> {
  const latencies: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++
        const t0 = performance.now()
        await get(url, token)
        latencies.push(performance.now() - t0)
      }
    }),
  )
  return latencies.sort((a, b) => a - b)
}

/**
 * `count` GETs whose answers are not read for `holdMs` after their headers arrive, then read to
 * the end: Carrel's RSS peak meanwhile. A proxy that buffered would hold every answer whole.
 */
async function stalled(url: string, token: string, server: BenchServer, count: number, holdMs: number) {
  const before = server.rss().currentMb
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss().currentMb)), 5)
  const answers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
            res.pause()
            resolve(res)
          })
          req.on('error', reject)
          req.end()
        }),
    ),
  )
  await new Promise((r) => setTimeout(r, holdMs))
  const heldPeak = peak
  let bytes = 0
  await Promise.all(
    answers.map(
      (res) =>
        new Promise<void>((resolve, reject) => {
          res.on('data', (d: Buffer) => (bytes += d.length))
          res.on('end', resolve)
          res.on('error', reject)
          res.resume()
        }),
    ),
  )
  clearInterval(sampler)
  if (bytes !== count * BIG_BYTES) throw new Error(`got ${bytes} bytes`)
  return { before, heldPeak }
}

async function streamed(url: string, token: string, server: BenchServer, parallel: number) {
  const before = server.rss()
  let peak = before.currentMb
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss().currentMb)), 5)
  const t0 = performance.now()
  let bytes = 0
  if (parallel === 1) {
    for (let i = 0; i < BIG; i++) bytes += await get(url, token)
  } else {
    bytes = (await Promise.all(Array.from({ length: BIG }, () => get(url, token)))).reduce((a, b) => a + b, 0)
  }
  const seconds = (performance.now() - t0) / 1000
  clearInterval(sampler)
  peak = Math.max(peak, server.rss().currentMb)
  if (bytes !== BIG * BIG_BYTES) throw new Error(`got ${bytes} bytes`)
  return { mbPerS: bytes / 1024 / 1024 / seconds, rssBefore: before.currentMb, rssPeak: peak }
}

const fmt = (n: number) => n.toFixed(2)

export default async function main(): Promise<void> {
  const up = await upstream()
  const server = await startBenchServer({ PDS_BSKY_APP_VIEW_URL: up.url, PDS_BSKY_APP_VIEW_DID: 'did:web:appview.bench.test' })
  const floor = await startFloor(up.url)
  try {
    const { accessJwt } = await createAccount(server.url, 'proxybench')
    const direct = `${up.url}/xrpc/app.bsky.feed.getTimeline?limit=6`
    const proxied = `${server.url}/xrpc/app.bsky.feed.getTimeline?limit=6`
    // warm-up: JIT, connection pools, the account's signing key
    await load(direct, accessJwt, 500, CONCURRENCY)
    await load(proxied, accessJwt, 500, CONCURRENCY)
    const floored = `${floor.url}/xrpc/app.bsky.feed.getTimeline?limit=6`
    await load(floored, accessJwt, 500, CONCURRENCY)

    for (const concurrency of [1, CONCURRENCY]) {
      const calls = concurrency === 1 ? Math.ceil(CALLS / 4) : CALLS
      const d = await load(direct, accessJwt, calls, concurrency)
      const cpu0 = server.cpuMs()
      const t0 = performance.now()
      const p = await load(proxied, accessJwt, calls, concurrency)
      const wall = performance.now() - t0
      const cpuPerCall = (server.cpuMs() - cpu0) / calls
      const floorCpu0 = floor.cpuMs()
      const f = await load(floored, accessJwt, calls, concurrency)
      const floorCpuPerCall = (floor.cpuMs() - floorCpu0) / calls
      const [d50, d99, p50, p99] = [percentile(d, 50), percentile(d, 99), percentile(p, 50), percentile(p, 99)]
      const [f50, f99] = [percentile(f, 50), percentile(f, 99)]
      console.log(`proxy small (${calls} getTimeline calls, ${SMALL.length} B answers, concurrency ${concurrency}):`)
      console.log(`  direct   p50 ${fmt(d50)} ms  p99 ${fmt(d99)} ms`)
      console.log(`  proxied  p50 ${fmt(p50)} ms  p99 ${fmt(p99)} ms  (${Math.round((calls / wall) * 1000)} calls/s)`)
      console.log(`  added    p50 ${fmt(p50 - d50)} ms  p99 ${fmt(p99 - d99)} ms`)
      console.log(`  server CPU ${fmt(cpuPerCall)} ms per proxied call`)
      console.log(`  floor    p50 ${fmt(f50)} ms  p99 ${fmt(f99)} ms, added p50 ${fmt(f50 - d50)} ms  p99 ${fmt(f99 - d99)} ms, CPU ${fmt(floorCpuPerCall)} ms per call`)
    }

    if (!STREAM) return
    const bigDirect = `${up.url}/xrpc/app.bsky.feed.getFeed?feed=big`
    const bigProxied = `${server.url}/xrpc/app.bsky.feed.getFeed?feed=at%3A%2F%2Fdid%3Aplc%3Abench%2Fapp.bsky.feed.generator%2Fbig`
    await get(bigProxied, accessJwt)
    // rounds of the same work: a server that buffered answers would grow with each round's
    // answers; one that streams levels off once its heap has settled
    for (const [round, parallel] of [[1, 1], [2, 1], [3, 1], [4, BIG]] as const) {
      const sd = await streamed(bigDirect, accessJwt, server, parallel)
      const cpu0 = server.cpuMs()
      const sp = await streamed(bigProxied, accessJwt, server, parallel)
      const cpuPerMb = (server.cpuMs() - cpu0) / ((BIG * BIG_BYTES) / 1024 / 1024)
      const how = parallel === 1 ? 'one after another' : 'all at once'
      console.log(`proxy stream round ${round} (${BIG} answers of 5 MiB, ${how}):`)
      console.log(`  direct   ${fmt(sd.mbPerS)} MiB/s`)
      console.log(`  proxied  ${fmt(sp.mbPerS)} MiB/s, server CPU ${fmt(cpuPerMb)} ms per MiB; server RSS ${fmt(sp.rssBefore)} MB before, peak ${fmt(sp.rssPeak)} MB (+${fmt(sp.rssPeak - sp.rssBefore)} MB)`)
    }
    const held = await stalled(bigProxied, accessJwt, server, BIG, 2000)
    console.log(`proxy stream stalled (${BIG} answers of 5 MiB whose clients read nothing for 2 s, then everything):`)
    console.log(`  server RSS ${fmt(held.before)} MB before, peak ${fmt(held.heldPeak)} MB while held (+${fmt(held.heldPeak - held.before)} MB; ${BIG * 5} MiB were on offer)`)
  } finally {
    agent.destroy()
    await floor.stop()
    await server.stop()
    await up.close()
  }
}
