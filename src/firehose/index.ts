import type { Server as HttpServer } from 'node:http'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { Crawlers } from './crawlers.js'
import { EventLog } from './event-log.js'
import type { Sequencer } from './sequencer.js'
import { SubscribeRepos } from './subscribe-repos.js'

export { SUBSCRIBE_REPOS_PATH, subscribeReposHttpFallback } from './subscribe-repos.js'

export const PRUNE_INTERVAL_MS = 60_000

export type FirehoseService = {
  log: EventLog
  subscribeRepos: SubscribeRepos
  crawlers: Crawlers
  /** delete events older than cfg.repoBackfillLimitMs now (also runs at start-up and every minute) */
  prune(): Promise<number>
  close(): Promise<void>
}

/**
 * Starts the firehose services once the HTTP server listens: the subscribeRepos WebSocket
 * endpoint on `http`, pruning of the event log by age, and crawl requests to the relays.
 */
export async function startFirehose(
  deps: { cfg: Config; db: Db; logger: Logger; sequencer: Sequencer },
  http: HttpServer,
): Promise<FirehoseService> {
  const { cfg, logger, sequencer } = deps
  const log = new EventLog(deps.db)
  const onListenerError = (err: unknown) => logger.error({ err: { message: (err as Error)?.message } }, 'firehose listener failed')
  sequencer.on('listenerError', onListenerError)

  let pruning: Promise<number> | undefined
  const prune = (): Promise<number> => {
    if (pruning) return pruning
    pruning = log
      .prune(new Date(Date.now() - cfg.repoBackfillLimitMs))
      .then((n) => {
        if (n > 0) logger.info({ deleted: n, oldestSeq: log.oldestSeq() ?? null }, 'pruned firehose events')
        return n
      })
      .catch((err) => {
        logger.error({ err: { message: err?.message } }, 'pruning firehose events failed')
        return 0
      })
      .finally(() => {
        pruning = undefined
      })
    return pruning
  }
  await prune()
  const pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS)
  pruneTimer.unref()

  const subscribeRepos = new SubscribeRepos({
    sequencer,
    log,
    logger,
    queueLength: Math.max(1, cfg.firehoseQueueLength),
    maxSubscribers: cfg.firehoseMaxSubscribers,
    stallTimeoutMs: cfg.firehoseStallTimeoutMs,
  })
  subscribeRepos.attach(http)

  const crawlers = new Crawlers({ hostname: cfg.hostname, crawlers: cfg.crawlers, logger, sequencer })
  void crawlers.notifyOfUpdate()

  return {
    log,
    subscribeRepos,
    crawlers,
    prune,
    async close() {
      clearInterval(pruneTimer)
      crawlers.close()
      sequencer.off('listenerError', onListenerError)
      await subscribeRepos.close()
      await pruning
    },
  }
}
