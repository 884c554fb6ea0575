// npm run bench -- rate-limit: the rate-limit layer alone (src/xrpc/rate-limit), no HTTP.
// Memory: calls from rotating addresses (one new key each) through the per-address limit, with
// the default bound of keys per limit, against rate-limiter-flexible's memory store (what the
// reference uses) given the same keys. Time: what the layer adds to one call, the per-address
// check alone and with a write method's two shared budgets. The machine's load shows in the times.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { RateLimitLayer } from '../src/xrpc/rate-limit/layer.ts'
import { repoWriteLimits, WRITE_POINTS } from '../src/xrpc/rate-limit/write-points.ts'
import type { Route } from '../src/xrpc/router.ts'

const ROTATED = Number(process.env.BENCH_ROTATED ?? 1_000_000)
const MAX_KEYS = Number(process.env.BENCH_MAX_KEYS ?? 50_000)
const CALLS = Number(process.env.BENCH_CALLS ?? 500_000)

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapMiB = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed / 2 ** 20
}

/** keeps the one header the layer reads back */
class FakeRes {
  headersSent = false
  remaining: unknown = undefined
  setHeader(k: string, v: unknown) {
    if (k === 'RateLimit-Remaining') this.remaining = v
  }
  getHeader(k: string) {
    return k === 'RateLimit-Remaining' ? this.remaining : undefined
  }
  end() {}
}
const fakeRes = () => new FakeRes() as unknown as ServerResponse
const fakeReq = (ip: string) => ({ headers: { 'x-forwarded-for': ip }, socket: { remoteAddress: '127.0.0.1' }, connection: { remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage
const rotatingIp = (i: number) => `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`

/** the reference's numbers, or budgets no call runs out of (to time the calls that go through) */
function layer(maxKeys: number, points = { global: 3000, hour: 5000, day: 35_000 }): RateLimitLayer {
  const l = new RateLimitLayer()
  l.configure({
    enabled: true,
    bypassKey: undefined,
    bypassIps: [],
    globalPerIp: { points: points.global, windowMs: 5 * 60_000 },
    shared: { 'repo-write-hour': { points: points.hour, windowMs: 3_600_000 }, 'repo-write-day': { points: points.day, windowMs: 86_400_000 } },
    maxKeys,
  })
  return l
}

export default async function run(): Promise<void> {
  const figures: Record<string, number> = {}

  // time per call that goes through: a fresh layer, calls from a few addresses (a server's steady state)
  const timed = layer(MAX_KEYS, { global: 1e12, hour: 1e12, day: 1e12 })
  const route = { nsid: 'com.atproto.repo.createRecord', config: { rateLimit: repoWriteLimits(() => WRITE_POINTS.create), handler: () => undefined } } as unknown as Route
  const reqs = Array.from({ length: 64 }, (_, i) => fakeReq(`198.51.100.${i}`))
  const auth = { credentials: { type: 'access', did: 'did:plc:bench', scope: 'com.atproto.access' } }
  const t0 = performance.now()
  for (let i = 0; i < CALLS; i++) timed.refuseClient(reqs[i & 63]!, fakeRes())
  const t1 = performance.now()
  for (let i = 0; i < CALLS; i++) {
    const req = reqs[i & 63]!
    const res = fakeRes()
    timed.refuseClient(req, res)
    timed.chargeCall(route, { req, params: {}, input: undefined, auth }, res)
  }
  const t2 = performance.now()
  figures.perAddressCheckUs = +(((t1 - t0) * 1000) / CALLS).toFixed(2)
  figures.writeCallUs = +(((t2 - t1) * 1000) / CALLS).toFixed(2)

  // memory under rotation: ours, bounded
  let base = heapMiB()
  const ours = layer(MAX_KEYS)
  for (let i = 0; i < ROTATED; i++) ours.refuseClient(fakeReq(rotatingIp(i)), fakeRes())
  const oursMiB = heapMiB() - base
  figures.rotatedCalls = ROTATED
  figures.keysKept = ours.keyCount()
  figures.layerHeapMiB = +oursMiB.toFixed(1)
  figures.bytesPerKey = Math.round((oursMiB * 2 ** 20) / ours.keyCount())

  // the same keys into rate-limiter-flexible's memory store (one Record, Date and timer each)
  base = heapMiB()
  const rlf = new RateLimiterMemory({ points: 3000, duration: 300 })
  for (let i = 0; i < ROTATED; i++) await rlf.consume(rotatingIp(i).replace(/::1$/, '::/64'), 1)
  const rlfMiB = heapMiB() - base
  figures.rateLimiterFlexibleHeapMiB = +rlfMiB.toFixed(1)


  console.log('rate-limit layer')
  console.log(`  ${ROTATED} calls from rotating /64s, bound ${MAX_KEYS} keys per limit:`)
  console.log(`    ours: ${figures.keysKept} keys kept, ${figures.layerHeapMiB} MiB heap (${figures.bytesPerKey} bytes per key)`)
  console.log(`    rate-limiter-flexible memory store, same keys: ${figures.rateLimiterFlexibleHeapMiB} MiB heap (all kept until their window ends)`)
  console.log(`  time per call: per-address check ${figures.perAddressCheckUs} µs; per-address + write points ${figures.writeCallUs} µs`)
  console.log(JSON.stringify({ bench: 'rate-limit', ...figures }))
}
