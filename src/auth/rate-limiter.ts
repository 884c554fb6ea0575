/**
 * Counts failures per key in a sliding window, in memory (one process). A key that reached
 * its limit is refused until its oldest failure leaves the window.
 */
export class FailureLimiter {
  private failures = new Map<string, number[]>()
  private lastSweep = 0

  constructor(
    private windowMs: number,
    private limit: number,
  ) {}

  /** ms until `key` may try again, or 0 when it may try now */
  retryAfterMs(key: string, now = Date.now()): number {
    const list = this.live(key, now)
    if (list.length < this.limit) return 0
    return Math.max(1, list[list.length - this.limit] + this.windowMs - now)
  }

  recordFailure(key: string, now = Date.now()): void {
    const list = this.live(key, now)
    list.push(now)
    // keep only what can matter for the limit
    if (list.length > this.limit) list.splice(0, list.length - this.limit)
    this.failures.set(key, list)
    this.sweep(now)
  }

  reset(key: string): void {
    this.failures.delete(key)
  }

  private live(key: string, now: number): number[] {
    const list = this.failures.get(key)
    if (!list) return []
    const cutoff = now - this.windowMs
    let i = 0
    while (i < list.length && list[i] <= cutoff) i++
    if (i > 0) list.splice(0, i)
    if (list.length === 0) this.failures.delete(key)
    return list
  }

  /** forget idle keys now and then, so the map does not grow without bound */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return
    this.lastSweep = now
    const cutoff = now - this.windowMs
    for (const [key, list] of this.failures) {
      if (list.length === 0 || list[list.length - 1] <= cutoff) this.failures.delete(key)
    }
  }
}

/** Failed-login limits per account and per client IP. */
export class LoginLimiter {
  private perAccount: FailureLimiter
  private perIp: FailureLimiter

  constructor(opts: { windowMs: number; perAccount: number; perIp: number }) {
    this.perAccount = new FailureLimiter(opts.windowMs, opts.perAccount)
    this.perIp = new FailureLimiter(opts.windowMs, opts.perIp)
  }

  /** ms until this login may be attempted, 0 = now */
  retryAfterMs(accountKey: string, ip: string): number {
    return Math.max(this.perAccount.retryAfterMs(accountKey), this.perIp.retryAfterMs(ip))
  }

  recordFailure(accountKey: string, ip: string): void {
    this.perAccount.recordFailure(accountKey)
    this.perIp.recordFailure(ip)
  }

  recordSuccess(accountKey: string): void {
    this.perAccount.reset(accountKey)
  }
}
