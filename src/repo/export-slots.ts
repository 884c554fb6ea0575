import { ResponseType, XRPCError } from '@atproto/xrpc-server'

/** What a refused client is told to wait before trying again, in seconds. */
const EXPORT_RETRY_AFTER_SEC = 5

/** A refused export: 429 or 503; the handler copies `retryAfterSec` into Retry-After. */
export class ExportRefusedError extends XRPCError {
  readonly retryAfterSec = EXPORT_RETRY_AFTER_SEC
}

/**
 * Counts the exports running (each holds a read snapshot and a connection), server-wide and per
 * client. A client over its own share gets 429 RateLimitExceeded: it is the one to slow down.
 * A client under its share when the server as a whole is full gets 503 NotEnoughResources: the
 * server is busy, not the client at fault, and clients retry a 503 as they retry a 429. Both
 * come with Retry-After.
 */
export class ExportSlots {
  private running = 0
  private perClient = new Map<string, number>()

  constructor(private readonly limits: { maxConcurrent: number; maxConcurrentPerClient: number }) {}

  /** Takes a slot for `client`, or throws {@link ExportRefusedError}; returns its release (once; later calls do nothing). */
  take(client: string): () => void {
    const mine = this.perClient.get(client) ?? 0
    if (mine >= this.limits.maxConcurrentPerClient) {
      const message = `at most ${this.limits.maxConcurrentPerClient} repo exports at once per client`
      throw new ExportRefusedError(ResponseType.RateLimitExceeded, message, 'RateLimitExceeded')
    }
    if (this.running >= this.limits.maxConcurrent) {
      const message = 'too many repo exports are running; try again shortly'
      throw new ExportRefusedError(ResponseType.NotEnoughResources, message, 'NotEnoughResources')
    }
    this.running++
    this.perClient.set(client, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
      const left = this.perClient.get(client)! - 1
      if (left === 0) this.perClient.delete(client)
      else this.perClient.set(client, left)
    }
  }
}
