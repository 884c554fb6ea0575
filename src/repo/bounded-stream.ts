import { Readable } from 'node:stream'
import { ResponseType, XRPCError } from '@atproto/xrpc-server'

export type StreamBounds = {
  /** cut the stream when its consumer has taken nothing for this long (0 = never) */
  stallTimeoutMs: number
  /** cut the stream when it is still running this long after it was made (0 or unset = never) */
  maxAgeMs?: number
}

/**
 * Why a response was cut. An XRPC error, so that it is not taken for a server failure; the
 * client never sees it (the response is under way: the connection is closed instead).
 */
export class ResponseCutError extends XRPCError {
  constructor(readonly reason: 'stalled' | 'too old') {
    super(
      ResponseType.InvalidRequest,
      reason === 'stalled' ? 'the client stopped reading the response' : 'the response took too long',
      'ResponseCut',
    )
  }
}

/**
 * A byte stream over a synchronous producer of chunks, which is only asked for more when the
 * consumer wants more (backpressure). It is destroyed with a {@link ResponseCutError} when the
 * consumer has asked for nothing for `stallTimeoutMs` (a client that stopped reading, whose
 * socket buffers are full), or when it is still running after `maxAgeMs`. `onClose` runs once,
 * however the stream ends (end, error, cut, or destroyed by the consumer): it releases what the
 * producer holds.
 *
 * Progress is seen once per chunk taken: a client reading slower than one chunk (the
 * producer's size, e.g. 256 kB) per `stallTimeoutMs` counts as stalled.
 */
export class BoundedStream extends Readable {
  private stallTimer: NodeJS.Timeout | undefined
  private ageTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly chunks: Iterator<Buffer>,
    bounds: StreamBounds,
    private readonly onClose: () => void,
    highWaterMark: number,
  ) {
    super({ highWaterMark })
    if (bounds.stallTimeoutMs > 0) {
      this.stallTimer = setTimeout(() => this.destroy(new ResponseCutError('stalled')), bounds.stallTimeoutMs).unref()
    }
    if (bounds.maxAgeMs) {
      this.ageTimer = setTimeout(() => this.destroy(new ResponseCutError('too old')), bounds.maxAgeMs).unref()
    }
  }

  override _read(): void {
    this.stallTimer?.refresh()
    try {
      for (;;) {
        const next = this.chunks.next()
        if (next.done) {
          this.push(null)
          return
        }
        if (!this.push(next.value)) return
      }
    } catch (err) {
      this.destroy(err as Error)
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.stallTimer)
    clearTimeout(this.ageTimer)
    this.onClose()
    callback(err)
  }
}
