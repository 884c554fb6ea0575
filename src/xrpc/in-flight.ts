/** Work under way (XRPC handlers), so that shutdown can wait for it before closing the database. */
export class InFlight {
  private pending = 0
  private waiters: (() => void)[] = []

  get size(): number {
    return this.pending
  }

  /** Runs `fn`, counted until the promise it returns settles. */
  async track<T>(fn: () => T | Promise<T>): Promise<T> {
    this.pending++
    try {
      return await fn()
    } finally {
      if (--this.pending === 0) {
        const w = this.waiters
        this.waiters = []
        for (const resolve of w) resolve()
      }
    }
  }

  /** Resolves true once nothing is under way, or false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done)
        resolve(false)
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.waiters.push(done)
    })
  }
}
