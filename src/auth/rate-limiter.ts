import { ResponseType, XRPCError } from '@atproto/xrpc-server'

/** Where a limit stands for one key: what the RateLimit-* headers say. */
export type RateLimitStatus = {
  limit: number
  windowMs: number
  remaining: number
  /** epoch ms when the key may have another event */
  resetAt: number
}

/**
 * 429 with the seconds to wait, and which limit refused when known; the handler copies them
 * into Retry-After and the RateLimit-* headers.
 */
export class RateLimitedError extends XRPCError {
  constructor(
    readonly retryAfterSec: number,
    message: string,
    readonly status?: RateLimitStatus,
  ) {
    super(ResponseType.RateLimitExceeded, message, 'RateLimitExceeded')
  }
}

/**
 * Counts events per key in a sliding window, in memory (one process). A key that reached its
 * limit is refused until its oldest counted event leaves the window.
 */
export class WindowCounter {
  private events = new Map<string, number[]>()
  private lastSweep = 0

  constructor(
    readonly windowMs: number,
    readonly limit: number,
  ) {}

  /** ms until `key` may have another event, or 0 when it may now */
  retryAfterMs(key: string, now = Date.now()): number {
    const list = this.live(key, now)
    if (list.length < this.limit) return 0
    return Math.max(1, list[list.length - this.limit]! + this.windowMs - now)
  }

  /** Counts one event at `now`. */
  add(key: string, now = Date.now()): void {
    const list = this.live(key, now)
    list.push(now)
    // keep only what can matter for the limit
    if (list.length > this.limit) list.splice(0, list.length - this.limit)
    this.events.set(key, list)
    this.sweep(now)
  }

  /** Forgets one event counted at `at` (an attempt that turned out to be fine). */
  remove(key: string, at: number): void {
    const list = this.events.get(key)
    if (!list) return
    const i = list.lastIndexOf(at)
    if (i !== -1) list.splice(i, 1)
    if (list.length === 0) this.events.delete(key)
  }

  reset(key: string): void {
    this.events.delete(key)
  }

  private live(key: string, now: number): number[] {
    const list = this.events.get(key)
    if (!list) return []
    const cutoff = now - this.windowMs
    let i = 0
    while (i < list.length && list[i]! <= cutoff) i++
    if (i > 0) list.splice(0, i)
    if (list.length === 0) this.events.delete(key)
    return list
  }

  /** forget idle keys now and then, so the map does not grow without bound */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return
    this.lastSweep = now
    const cutoff = now - this.windowMs
    for (const [key, list] of this.events) {
      if (list.length === 0 || list[list.length - 1]! <= cutoff) this.events.delete(key)
    }
  }
}

export type LoginLimits = {
  windowMs: number
  /** failed logins per account from one client IP (what one stranger can try) */
  perAccountAndIp: number
  /** failed logins per account from all IPs together (a distributed guess) */
  perAccount: number
  /** failed logins per client IP, whatever the account */
  perIp: number
}

/** A login attempt, counted as failed unless it turns out to succeed. */
export type LoginAttempt = { succeeded(): void }

/**
 * Failed-login limits. An attempt is counted when it starts, before the password is hashed, so
 * that a burst of parallel attempts cannot all be evaluated before the first failure is counted;
 * an attempt that succeeds is uncounted again. The per-account limit is keyed by account and
 * client IP, as the reference PDS keys it, so that a stranger cannot lock the owner out; a
 * separate, higher ceiling bounds guesses at one account from many IPs.
 */
export class LoginLimiter {
  private accountAndIp: WindowCounter
  private account: WindowCounter
  private ip: WindowCounter

  constructor(limits: LoginLimits) {
    this.accountAndIp = new WindowCounter(limits.windowMs, limits.perAccountAndIp)
    this.account = new WindowCounter(limits.windowMs, limits.perAccount)
    this.ip = new WindowCounter(limits.windowMs, limits.perIp)
  }

  /** ms to wait before trying again and the limit that refused, or the attempt, now counted. */
  begin(accountKey: string, ip: string, now = Date.now()): { retryAfterMs: number; status: RateLimitStatus } | LoginAttempt {
    const pair = `${accountKey} ${ip}`
    let refusal: { retryAfterMs: number; status: RateLimitStatus } | undefined
    for (const [counter, key] of [[this.accountAndIp, pair], [this.account, accountKey], [this.ip, ip]] as const) {
      const wait = counter.retryAfterMs(key, now)
      if (wait > (refusal?.retryAfterMs ?? 0)) {
        refusal = { retryAfterMs: wait, status: { limit: counter.limit, windowMs: counter.windowMs, remaining: 0, resetAt: now + wait } }
      }
    }
    if (refusal) return refusal
    this.accountAndIp.add(pair, now)
    this.account.add(accountKey, now)
    this.ip.add(ip, now)
    return {
      succeeded: () => {
        this.accountAndIp.reset(pair)
        this.account.remove(accountKey, now)
        this.ip.remove(ip, now)
      },
    }
  }
}
