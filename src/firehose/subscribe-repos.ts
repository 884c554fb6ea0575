import { randomUUID } from 'node:crypto'
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import type { Logger } from '../logger.js'
import type { EventLog } from './event-log.js'
import { encodeErrorFrame, encodeInfoFrame } from './frames.js'
import type { SequencedEvent, Sequencer } from './sequencer.js'
import { encodeBinaryWsFrame } from './ws-frame.js'

export const SUBSCRIBE_REPOS_PATH = '/xrpc/com.atproto.sync.subscribeRepos'

export type SubscribeReposOptions = {
  sequencer: Sequencer
  log: EventLog
  logger: Logger
  /** most frames a subscriber may have queued (not yet handed to the kernel) */
  queueLength: number
  /** most subscribers connected at once; more are refused before the upgrade (503) */
  maxSubscribers: number
  /** a subscriber with frames queued and none written for this long is dropped (0 = never) */
  stallTimeoutMs: number
  /** most bytes a subscriber may have queued */
  maxQueueBytes?: number
  /** most events read per replay page */
  pageSize?: number
  /**
   * most frame bytes read per replay page (a bigger frame comes alone); replay also waits for
   * the socket to drain above this many buffered bytes
   */
  replayHighWaterBytes?: number
  /** ping interval; a subscriber that has not answered the previous ping is dropped */
  heartbeatMs?: number
}

const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024
const DEFAULT_PAGE_SIZE = 500
const DEFAULT_REPLAY_HIGH_WATER = 2 * 1024 * 1024
const DEFAULT_HEARTBEAT_MS = 30_000
/** What a subscriber refused for want of room is told to wait, in seconds. */
const RETRY_AFTER_SEC = 10

function msSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6
}

function httpError(socket: Duplex, status: number, error: string, message: string, extra = '') {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify({ error, message })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  )
}

/** `cursor` query parameter: undefined (absent or empty), a safe non-negative integer, or an error message. */
export function parseCursor(params: URLSearchParams): { cursor?: number; error?: string } {
  const values = params.getAll('cursor')
  if (values.length === 0) return {}
  if (values.length > 1) return { error: 'cursor must be given at most once' }
  const v = values[0]
  // `cursor=` means no cursor, as the reference reads it: @atproto/sync's Firehose sends that
  if (v === '') return {}
  if (!/^\d{1,16}$/.test(v)) return { error: 'cursor must be a non-negative integer' }
  const n = Number(v)
  if (!Number.isSafeInteger(n)) return { error: 'cursor is too large' }
  return { cursor: n }
}

/**
 * One connected consumer. Replayed frames are the stored bytes, handed to `ws.send` without
 * copying; live frames arrive already WebSocket-framed and go straight to the socket (the same
 * stream `ws` writes to, so the order of everything sent is kept). `queued` counts frames
 * written to the socket whose write has not completed yet (they sit in Node's buffers, i.e.
 * server memory). `lastProgress` is when one of them last completed, or when the queue last
 * started filling: a subscriber that answers pings but never reads makes no progress.
 */
class Subscriber {
  lastSeq = 0
  queued = 0
  lastProgress = Date.now()
  closed = false
  alive = true
  private waiters: (() => void)[] = []
  private readonly onWritten = () => {
    this.queued--
    this.lastProgress = Date.now()
    if (this.waiters.length > 0 && this.queued === 0) {
      const w = this.waiters
      this.waiters = []
      for (const fn of w) fn()
    }
  }

  constructor(
    readonly ws: WebSocket,
    private readonly socket: Duplex,
  ) {}

  get queuedBytes(): number {
    return this.ws.bufferedAmount
  }

  /** frames sent, for the connection's log line */
  frames = 0

  send(frame: Uint8Array) {
    if (this.queued++ === 0) this.lastProgress = Date.now()
    this.frames++
    this.ws.send(frame, { binary: true }, this.onWritten)
  }

  /** A complete WebSocket message from `encodeBinaryWsFrame`; nothing once closing has begun. */
  sendWsFrame(wsFrame: Buffer) {
    if (this.ws.readyState !== WebSocket.OPEN) return
    if (this.queued++ === 0) this.lastProgress = Date.now()
    this.frames++
    this.socket.write(wsFrame, this.onWritten)
  }

  /** Resolves once every frame sent so far has been handed to the kernel (or the socket is gone). */
  drained(): Promise<void> {
    if (this.queued === 0 || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Send an error frame, then close with 1008 and the error name (as the reference does). */
  fail(error: string, message: string) {
    if (this.closed) return
    this.markClosed()
    if (this.ws.readyState !== WebSocket.OPEN) return
    this.ws.send(encodeErrorFrame(error, message), { binary: true })
    this.ws.close(1008, error)
  }

  markClosed() {
    this.closed = true
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }
}

/**
 * `com.atproto.sync.subscribeRepos` over WebSocket (`ws`, noServer). Live delivery sends the
 * frame stored in the log (encoded once) to every live subscriber; sending never waits for a
 * subscriber, and one whose queue overflows (count or bytes) gets `ConsumerTooSlow` and is
 * closed; one whose socket takes nothing of its queue for `stallTimeoutMs` is dropped, pings
 * answered or not. A cursor replays `seq > cursor` from the log in pages bounded in bytes, then
 * switches to live. At most `maxSubscribers` are connected at once.
 */
export class SubscribeRepos {
  readonly subscribers = new Set<Subscriber>()
  private live = new Set<Subscriber>()
  private wss: WebSocketServer
  private heartbeat: NodeJS.Timeout
  private stallCheck: NodeJS.Timeout | undefined
  private closing = false
  private attached: HttpServer[] = []
  private opts: Required<SubscribeReposOptions>

  constructor(opts: SubscribeReposOptions) {
    this.opts = {
      maxQueueBytes: DEFAULT_MAX_QUEUE_BYTES,
      pageSize: DEFAULT_PAGE_SIZE,
      replayHighWaterBytes: DEFAULT_REPLAY_HIGH_WATER,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      ...opts,
    }
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024, clientTracking: false })
    this.wss.on('headers', (headers, req) => {
      const reqId = this.requestIds.get(req)
      if (reqId) headers.push(`X-Request-Id: ${reqId}`)
    })
    this.opts.sequencer.on('event', this.onEvent)
    this.heartbeat = setInterval(() => this.ping(), this.opts.heartbeatMs)
    this.heartbeat.unref()
    if (this.opts.stallTimeoutMs > 0) {
      this.stallCheck = setInterval(() => this.dropStalled(), Math.max(10, Math.floor(this.opts.stallTimeoutMs / 2)))
      this.stallCheck.unref()
    }
  }

  /** subscribers currently following live events (replaying or dropped ones are not counted) */
  get liveCount(): number {
    return this.live.size
  }

  /** Take over WebSocket upgrades of `http` for the subscribeRepos path. */
  attach(http: HttpServer) {
    http.on('upgrade', this.onUpgrade)
    this.attached.push(http)
  }

  private onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const started = process.hrtime.bigint()
    const reqId = randomUUID()
    const refuse = (path: string, status: number, error: string, message: string, extra = '') => {
      this.logRequest({ reqId, method: req.method, path, status, ms: msSince(started) })
      httpError(socket, status, error, message, `X-Request-Id: ${reqId}\r\n${extra}`)
    }
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      return refuse('(malformed)', 400, 'InvalidRequest', 'malformed request URL')
    }
    if (url.pathname !== SUBSCRIBE_REPOS_PATH) {
      // another upgrade listener may own this path; when there is none, answer in JSON
      if (this.attached.some((h) => h.listenerCount('upgrade') > 1)) return
      return refuse(url.pathname, 404, 'MethodNotImplemented', 'no WebSocket endpoint at this path')
    }
    if (req.method !== 'GET') return refuse(url.pathname, 405, 'InvalidRequest', 'subscribeRepos takes GET', 'Allow: GET\r\n')
    if (this.closing) return refuse(url.pathname, 503, 'NotEnoughResources', 'server is shutting down')
    // the upgrade below completes synchronously: `subscribers` counts every connection taken
    if (this.subscribers.size >= this.opts.maxSubscribers) {
      return refuse(url.pathname, 503, 'NotEnoughResources', 'too many subscribers; try again later', `Retry-After: ${RETRY_AFTER_SEC}\r\n`)
    }
    this.requestIds.set(req, reqId)
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, url.searchParams, { reqId, started }))
  }

  /** the request id of an upgrade under way, for its 101 answer's X-Request-Id */
  private readonly requestIds = new WeakMap<IncomingMessage, string>()

  /** One line per WebSocket request, like the HTTP requests' (xrpc/http-answer.ts): a refusal at once, a subscription when it ends. */
  private logRequest(line: Record<string, unknown>): void {
    if (this.opts.logger.isLevelEnabled('info')) this.opts.logger.info(line, 'request')
  }

  private onConnection(ws: WebSocket, socket: Duplex, params: URLSearchParams, request: { reqId: string; started: bigint }) {
    const sub = new Subscriber(ws, socket)
    this.subscribers.add(sub)
    ws.on('pong', () => {
      sub.alive = true
    })
    ws.on('error', () => ws.terminate())
    ws.on('close', (code: number) => {
      sub.markClosed()
      this.live.delete(sub)
      this.subscribers.delete(sub)
      const { reqId, started } = request
      this.logRequest({ reqId, method: 'GET', path: SUBSCRIBE_REPOS_PATH, status: 101, ms: msSince(started), closeCode: code, frames: sub.frames })
    })
    // consumers have nothing to say on this stream; ignore any message

    const { cursor, error } = parseCursor(params)
    if (error) return sub.fail('InvalidRequest', error)
    const current = this.opts.sequencer.currentSeq()
    if (cursor === undefined) {
      sub.lastSeq = current
      this.live.add(sub)
      return
    }
    if (cursor > current) return sub.fail('FutureCursor', 'Cursor in the future.')
    this.replay(sub, cursor).catch((err) => {
      this.opts.logger.error({ err: { message: err?.message, stack: err?.stack } }, 'subscribeRepos replay failed')
      sub.fail('InternalServerError', 'replay failed')
    })
  }

  /**
   * Replays `seq > cursor` page by page, then goes live. Each page is one short synchronous
   * query. The switch to live happens in the same synchronous step as the query that found no
   * more rows: writes commit and publish synchronously on this thread, so no event can land
   * between that query and joining the live set. Events published while replaying are not
   * buffered: they are in the log and the next page reads them; `lastSeq` dedupes the rest.
   */
  private async replay(sub: Subscriber, cursor: number) {
    const { log, sequencer, pageSize, replayHighWaterBytes } = this.opts
    let after = cursor
    for (;;) {
      if (sub.closed || this.closing) return
      // the log only loses a prefix (pruning): a first retained seq beyond after+1 means events
      // this consumer has not seen are gone — at connect time, or because pruning overtook replay
      const current = sequencer.currentSeq()
      if (after < current) {
        const oldest = log.oldestSeq()
        if (oldest === undefined || oldest > after + 1) {
          sub.send(
            encodeInfoFrame('OutdatedCursor', 'Requested cursor exceeded limit. Possibly missing events'),
          )
          after = (oldest ?? current + 1) - 1
        }
      }
      // pages are bounded in bytes as well as rows: a page of 2 MB commits holds one or two
      const { rows, end } = log.page(after, pageSize, replayHighWaterBytes)
      for (const row of rows) {
        // an empty frame is an event of a deleted account, emptied (Sequencer.forgetAccountBeforeInTx)
        if (row.frame.length > 0) sub.send(row.frame)
        after = row.seq
      }
      sub.lastSeq = after
      if (end) {
        this.live.add(sub)
        return
      }
      if (sub.queuedBytes > replayHighWaterBytes) await sub.drained()
      else await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /**
   * Published events wait here for one turn of the event loop, so the writer's HTTP response is
   * not held up by the fan-out; the fan-out then sends a tick's events in one pass. A subscriber
   * that went live in between already has them from its replay: `lastSeq` skips those.
   */
  private outbox: SequencedEvent[] = []
  private flushScheduled = false

  private onEvent = (evt: SequencedEvent) => {
    this.outbox.push(evt)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
  }

  private flush = () => {
    this.flushScheduled = false
    const events = this.outbox
    this.outbox = []
    if (this.closing) return
    const { queueLength, maxQueueBytes } = this.opts
    for (const evt of events) {
      let wsFrame: Buffer | undefined // framed once, for every subscriber
      for (const sub of this.live) {
        if (evt.seq <= sub.lastSeq) continue
        if (sub.queued >= queueLength || sub.queuedBytes + evt.frame.byteLength > maxQueueBytes) {
          this.live.delete(sub)
          sub.fail('ConsumerTooSlow', 'Stream consumer too slow')
          continue
        }
        sub.lastSeq = evt.seq
        wsFrame ??= encodeBinaryWsFrame(evt.frame)
        sub.sendWsFrame(wsFrame)
      }
    }
  }

  /** Drops subscribers whose socket has taken none of their queued frames for `stallTimeoutMs`. */
  private dropStalled() {
    const { stallTimeoutMs, logger } = this.opts
    const now = Date.now()
    for (const sub of this.subscribers) {
      if (sub.closed || sub.queued === 0 || now - sub.lastProgress < stallTimeoutMs) continue
      logger.info({ queuedFrames: sub.queued, queuedBytes: sub.queuedBytes }, 'subscribeRepos: dropping a subscriber that stopped reading')
      // its socket is full: an error frame would never get through
      this.live.delete(sub)
      sub.markClosed()
      sub.ws.terminate()
    }
  }

  private ping() {
    for (const sub of this.subscribers) {
      if (!sub.alive) {
        sub.ws.terminate()
        continue
      }
      sub.alive = false
      sub.ws.ping()
    }
  }

  /** Close every subscriber (1001, going away) and stop accepting new ones. */
  async close(): Promise<void> {
    this.closing = true
    clearInterval(this.heartbeat)
    clearInterval(this.stallCheck)
    this.opts.sequencer.off('event', this.onEvent)
    for (const http of this.attached) http.off('upgrade', this.onUpgrade)
    this.attached = []
    const closing: Promise<void>[] = []
    for (const sub of this.subscribers) {
      sub.markClosed()
      closing.push(
        new Promise<void>((resolve) => {
          if (sub.ws.readyState === WebSocket.CLOSED) return resolve()
          sub.ws.once('close', () => resolve())
          sub.ws.close(1001, 'server shutting down')
          setTimeout(() => sub.ws.terminate(), 1000).unref()
        }),
      )
    }
    this.live.clear()
    await Promise.all(closing)
    this.subscribers.clear()
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}

/** A plain HTTP request on the subscribeRepos path: 405 for a non-GET, 426 for a GET without Upgrade. */
export function subscribeReposHttpFallback(req: IncomingMessage, res: ServerResponse): void {
  const get = req.method === 'GET' || req.method === 'HEAD'
  const body = get
    ? { error: 'InvalidRequest', message: 'subscribeRepos is a WebSocket endpoint: upgrade required' }
    : { error: 'InvalidRequest', message: 'subscribeRepos takes GET' }
  res.statusCode = get ? 426 : 405
  res.setHeader(get ? 'Upgrade' : 'Allow', get ? 'websocket' : 'GET')
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.end(JSON.stringify(body))
}
