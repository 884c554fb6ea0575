import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import proxyAddr from 'proxy-addr'
import { bodyPresence } from '../body.js'
import { clientIp } from '../client-ip.js'
import { sendXrpcError } from '../http-answer.js'
import type { Route } from '../router.js'
import { clientKey } from './client-key.js'
import { RateLimitExceededError, refusalMessage, retryAfterSec, setRateLimitHeaders } from './headers.js'
import type { LimitStatus, RateLimitCall, RateLimitSpec, SharedLimitName } from './spec.js'
import { WindowCounters } from './window-counters.js'

export type RateLimitOptions = {
  /** PDS_RATE_LIMITS_ENABLED: off, only the limits declared `always` apply */
  enabled: boolean
  /** a caller sending this in `x-ratelimit-bypass` is not limited */
  bypassKey: string | undefined
  /** addresses or CIDR ranges (of the client, as client-ip.ts finds it) that are not limited */
  bypassIps: string[]
  /** every /xrpc/ call, per client address */
  globalPerIp: { points: number; windowMs: number }
  /** the shared budgets, by name */
  shared: Record<SharedLimitName, { points: number; windowMs: number }>
  /** keys each limit remembers at most (memory bound under address rotation) */
  maxKeys: number
}

const DISABLED: RateLimitOptions = {
  enabled: false,
  bypassKey: undefined,
  bypassIps: [],
  globalPerIp: { points: 0, windowMs: 0 },
  shared: { 'repo-write-hour': { points: 0, windowMs: 0 }, 'repo-write-day': { points: 0, windowMs: 0 } },
  maxKeys: 50_000,
}

/** One limit as the layer runs it: its counters, its budget, and how a call is keyed and costed. */
type Limit = {
  points: number
  counters: WindowCounters
  always: boolean
  key: (call: RateLimitCall) => string | null
  cost: (call: RateLimitCall) => number
}

const byClient = (call: RateLimitCall) => clientKey(call.req)

/** Longer keys (a client-chosen identifier in one) are kept as their SHA-256, so a key costs little memory. */
const MAX_KEY_LENGTH = 128
const one = () => 1

/**
 * The rate limits of every /xrpc/ call, in memory (one process): a per-address limit on every
 * call, checked before anything else is done for it, and the limits each method declares
 * (`rateLimit` on `server.method`), checked after auth and input parsing, before the handler.
 * Answers carry the RateLimit-* headers of the tightest limit that applied; a refusal is 429
 * RateLimitExceeded with those headers and Retry-After. A refused call is charged nothing.
 */
export class RateLimitLayer {
  private opts: RateLimitOptions = DISABLED
  /** the per-address limit on every call */
  private global!: Limit
  private shared = new Map<SharedLimitName, WindowCounters>()
  private perRoute = new WeakMap<Route, Limit[]>()
  private bypassIp: ((addr: string) => boolean) | undefined
  private bypassKeyHash: Buffer | undefined

  constructor() {
    this.configure(DISABLED)
  }

  configure(opts: RateLimitOptions): void {
    this.opts = opts
    const counters = new WindowCounters(opts.globalPerIp.windowMs, opts.maxKeys)
    this.global = { points: opts.globalPerIp.points, counters, always: false, key: byClient, cost: one }
    this.shared = new Map(
      (Object.keys(opts.shared) as SharedLimitName[]).map((name) => [name, new WindowCounters(opts.shared[name].windowMs, opts.maxKeys)]),
    )
    this.perRoute = new WeakMap()
    const trusted = opts.bypassIps.length > 0 ? proxyAddr.compile(opts.bypassIps) : undefined
    this.bypassIp = trusted && ((addr) => trusted(addr, 0))
    this.bypassKeyHash = opts.bypassKey ? sha256(opts.bypassKey) : undefined
  }

  /** Keys the per-address limit and the shared budgets hold now (a figure for the memory bound). */
  keyCount(): number {
    let n = this.global.counters.size
    for (const c of this.shared.values()) n += c.size
    return n
  }

  /**
   * The per-address limit every /xrpc/ call is under. Refused: answered here (429), true.
   */
  refuseClient(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.opts.enabled || this.bypassed(req)) return false
    const verdict = this.run([this.global], { req, params: {}, input: undefined, auth: undefined })
    if (verdict === undefined) return false
    setRateLimitHeaders(res, verdict.status)
    if (!verdict.refused) return false
    res.setHeader('Retry-After', String(retryAfterSec(verdict.status)))
    // the body was not read: the connection cannot carry another request
    if (bodyPresence(req) === 'present') res.setHeader('Connection', 'close')
    sendXrpcError(res, 429, { error: 'RateLimitExceeded', message: refusalMessage(verdict.status) })
    return true
  }

  /**
   * Charges a call to its method's limits, all of them or none. Throws 429 RateLimitExceeded
   * (headers set) when one has no room for it.
   */
  chargeCall(route: Route, call: RateLimitCall, res: ServerResponse): void {
    const specs = route.config.rateLimit
    if (specs === undefined || specs.length === 0 || this.bypassed(call.req)) return
    const limits = this.limitsOf(route).filter((l) => this.opts.enabled || l.always)
    const verdict = this.run(limits, call)
    if (verdict === undefined) return
    if (!verdict.refused) {
      // the tightest of the answer's limits: this one, unless the per-address one has less left
      const before = Number(res.getHeader('RateLimit-Remaining') ?? Infinity)
      if (verdict.status.remaining <= before) setRateLimitHeaders(res, verdict.status)
      return
    }
    setRateLimitHeaders(res, verdict.status)
    res.setHeader('Retry-After', String(retryAfterSec(verdict.status)))
    throw new RateLimitExceededError(verdict.status)
  }

  /**
   * Checks every limit first, then charges them all if each has room: the refusing status
   * (the one that frees last), or the tightest after charging; undefined when none applied.
   */
  private run(limits: Limit[], call: RateLimitCall): { refused: boolean; status: LimitStatus } | undefined {
    const now = Date.now()
    const due: { limit: Limit; key: string; cost: number; used: number; resetAt: number }[] = []
    for (const limit of limits) {
      if (limit.points === 0) continue // a limit configured to 0 is off
      const raw = limit.key(call)
      if (raw === null) continue
      const key = raw.length > MAX_KEY_LENGTH ? sha256(raw).toString('base64') : raw
      const cost = limit.cost(call)
      if (cost <= 0) continue
      const { used, resetAt } = limit.counters.read(key, now)
      due.push({ limit, key, cost, used, resetAt })
    }
    if (due.length === 0) return undefined
    let refusal: LimitStatus | undefined
    for (const d of due) {
      if (d.used + d.cost <= d.limit.points) continue
      if (refusal === undefined || d.resetAt > refusal.resetAt) refusal = statusOf(d.limit, d.used, d.resetAt)
    }
    if (refusal) return { refused: true, status: refusal }
    let tightest: LimitStatus | undefined
    for (const d of due) {
      d.limit.counters.charge(d.key, d.cost, now)
      const s = statusOf(d.limit, d.used + d.cost, d.resetAt)
      if (tightest === undefined || s.remaining < tightest.remaining) tightest = s
    }
    return { refused: false, status: tightest! }
  }

  private limitsOf(route: Route): Limit[] {
    let limits = this.perRoute.get(route)
    if (limits) return limits
    limits = (route.config.rateLimit ?? []).map((spec: RateLimitSpec): Limit => {
      const key = spec.key ?? byClient
      const cost = spec.cost ?? one
      if ('shared' in spec) {
        const counters = this.shared.get(spec.shared)!
        return { points: this.opts.shared[spec.shared].points, counters, always: false, key, cost }
      }
      return { points: spec.points, counters: new WindowCounters(spec.durationMs, this.opts.maxKeys), always: spec.always ?? false, key, cost }
    })
    this.perRoute.set(route, limits)
    return limits
  }

  private bypassed(req: IncomingMessage): boolean {
    const sent = req.headers['x-ratelimit-bypass']
    if (this.bypassKeyHash && typeof sent === 'string' && timingSafeEqual(sha256(sent), this.bypassKeyHash)) return true
    return this.bypassIp !== undefined && this.bypassIp(clientIp(req))
  }
}

function statusOf(limit: Limit, used: number, resetAt: number): LimitStatus {
  return { limit: limit.points, windowMs: limit.counters.windowMs, remaining: Math.max(0, limit.points - used), resetAt }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}
