import type { Logger } from '../logger.js'
import type { Sequencer } from './sequencer.js'

export const CRAWL_NOTIFY_INTERVAL_MS = 20 * 60 * 1000
export const CRAWL_RETRY_MS = 60 * 1000
const REQUEST_TIMEOUT_MS = 10_000

export type CrawlResult = { relay: string; ok: boolean; error?: string }

/**
 * `POST <relay>/xrpc/com.atproto.sync.requestCrawl {hostname}`: ok, or why not (the status and
 * the start of the answer, or the failure). Never throws. Used by the server (Crawlers) and the
 * CLI (`carrel relay crawl`).
 */
export async function requestCrawl(relay: string, hostname: string): Promise<CrawlResult> {
  try {
    const res = await fetch(`${relay.replace(/\/+$/, '')}/xrpc/com.atproto.sync.requestCrawl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostname }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await res.text().catch(() => '')
    if (res.ok) return { relay, ok: true }
    return { relay, ok: false, error: `HTTP ${res.status} ${text.slice(0, 200)}`.trim() }
  } catch (err) {
    return { relay, ok: false, error: (err as Error)?.message ?? 'request failed' }
  }
}

type CrawlerState = { url: string; lastNotified: number; lastFailed: number; inFlight: boolean }

/**
 * Tells relays (PDS_CRAWLERS) to come and crawl us: `POST <relay>/xrpc/com.atproto.sync.requestCrawl
 * {hostname}` at start-up and again when the event log moves (a new account, a commit), at
 * most once per `minIntervalMs` per relay. Only successful notifications start that interval;
 * a relay that failed is retried by an event after `retryMs`. Failures are logged, never thrown.
 */
export class Crawlers {
  private crawlers: CrawlerState[]
  private hostname: string
  private logger: Logger
  private sequencer: Sequencer | undefined
  minIntervalMs: number
  retryMs: number
  private onEvent = () => this.notifyOfUpdate()

  constructor(opts: {
    hostname: string
    crawlers: string[]
    logger: Logger
    sequencer?: Sequencer
    minIntervalMs?: number
    retryMs?: number
  }) {
    this.hostname = opts.hostname
    this.logger = opts.logger
    this.minIntervalMs = opts.minIntervalMs ?? CRAWL_NOTIFY_INTERVAL_MS
    this.retryMs = opts.retryMs ?? CRAWL_RETRY_MS
    this.crawlers = opts.crawlers.map((url) => ({ url: url.replace(/\/+$/, ''), lastNotified: -Infinity, lastFailed: -Infinity, inFlight: false }))
    this.sequencer = opts.sequencer
    if (this.sequencer && this.crawlers.length > 0) this.sequencer.on('event', this.onEvent)
  }

  /** Notify every relay that is due. Resolves when the requests it started are done. */
  async notifyOfUpdate(): Promise<void> {
    const now = Date.now()
    const due = this.crawlers.filter(
      (c) => !c.inFlight && now - c.lastNotified >= this.minIntervalMs && now - c.lastFailed >= this.retryMs,
    )
    await Promise.all(due.map((c) => this.notify(c)))
  }

  private async notify(c: CrawlerState): Promise<void> {
    c.inFlight = true
    try {
      const result = await requestCrawl(c.url, this.hostname)
      if (result.ok) {
        c.lastNotified = Date.now()
        this.logger.info({ crawler: c.url }, 'requested crawl')
      } else {
        c.lastFailed = Date.now()
        this.logger.warn({ crawler: c.url, err: { message: result.error } }, 'requestCrawl failed')
      }
    } finally {
      c.inFlight = false
    }
  }

  close(): void {
    this.sequencer?.off('event', this.onEvent)
  }
}
