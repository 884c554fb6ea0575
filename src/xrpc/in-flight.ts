/**
 * Work under way (XRPC handlers, answers not yet sent), so that shutdown can wait for it before
 * closing connections or the database.
 */
export class InFlight {
  private pending = 0
  private waiters: (() => void)[] = []

  /** Counts one piece of work as under way; call the returned function (once) when it is done. */
  begin(): () => void {
    this.pending++
    let ended = false
    return () => {
      if (ended) return
      ended = true
      if (--this.pending === 0) {
        const w = this.waiters
        this.waiters = []
        for (const resolve of w) resolve()
      }
    }
  }

  /** Runs `fn`, counted until the promise it returns settles. */
  async track<T>(fn: () => T | Promise<T>): Promise<T> {
    const end = this.begin()
    try {
      return await fn()
    } finally {
      end()
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
