import { statSync } from 'node:fs'
import { listenRefusal, type Config } from './config.js'
import type { BlobService } from './repo/blob-service.js'
import type { SequencedEvent, Sequencer } from './firehose/sequencer.js'
import type { Logger } from './logger.js'
import { CarrelMetrics } from './metrics/carrel-metrics.js'
import { startMetricsListener, type MetricsListener } from './metrics/listener.js'
import type { RepoService } from './repo/service.js'
import type { CommitHook } from './repo/types.js'

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0 // no WAL file right now
  }
}

/**
 * Turns the metrics on (PDS_METRICS_PORT): the figures are taken from the running server's parts
 * (a commit hook and the sequencer's events time commits and count events; the database and blob
 * sizes are read when scraped) and served on their own listener on 127.0.0.1.
 */
export async function startMetrics(
  deps: { cfg: Config; repo: RepoService; blobs: BlobService; sequencer: Sequencer; logger: Logger },
  port: number,
  firehoseSubscribers: () => number,
): Promise<{ metrics: CarrelMetrics; listener: MetricsListener; close(): Promise<void> }> {
  const { cfg, repo, blobs, sequencer, logger } = deps
  const metrics = new CarrelMetrics({
    version: cfg.version,
    firehoseSubscribers,
    databaseFiles: () => ({ main: fileBytes(cfg.dbPath), wal: fileBytes(`${cfg.dbPath}-wal`) }),
    blobBytes: () => blobs.table.totalBytes(),
  })
  // first, so that the time starts before the other hooks' checks
  const hook: CommitHook = { check: (did) => metrics.commitStarted(did) }
  repo.hooks.unshift(hook)
  const onEvent = (evt: SequencedEvent) => metrics.eventSequenced(evt.type, evt.did)
  sequencer.on('event', onEvent)
  const unhook = () => {
    sequencer.off('event', onEvent)
    const i = repo.hooks.indexOf(hook)
    if (i !== -1) repo.hooks.splice(i, 1)
    metrics.close()
  }
  let listener: MetricsListener
  try {
    listener = await startMetricsListener(port, () => metrics.render())
  } catch (err) {
    unhook()
    throw listenRefusal(err, 'PDS_METRICS_PORT', `127.0.0.1:${port}`)
  }
  logger.info({ url: listener.url }, 'metrics listening')
  return {
    metrics,
    listener,
    async close() {
      await listener.close()
      unhook()
    },
  }
}
