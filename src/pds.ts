import { ConfigError, listenRefusal, loadConfig, type Config } from './config.js'
import { createContext, type AppContext } from './context.js'
import { DataLockError, lockDataDirectory, type DataLock } from './db/data-lock.js'
import { startEmbeddedPlc, type EmbeddedPlc } from './identity/embedded-plc.js'
import { startFirehose, type FirehoseService } from './firehose/index.js'
import type { MetricsListener } from './metrics/listener.js'
import { startMetrics } from './pds-metrics.js'
import { createApp, startHttpServer, type RunningServer } from './server.js'
import { InFlight } from './xrpc/in-flight.js'

export type Pds = {
  ctx: AppContext
  cfg: Config
  http: RunningServer
  /** subscribeRepos, event-log pruning, crawl requests */
  firehose: FirehoseService
  /** the Prometheus listener on 127.0.0.1, when PDS_METRICS_PORT is set */
  metrics: MetricsListener | undefined
  url: string
  /**
   * Stops the server (SIGTERM): answers under way get `graceMs` to finish before their
   * connections are cut, then the database closes. Once; later calls get the same report.
   */
  stop(graceMs: number): Promise<ShutdownReport>
  /** `stop(0)`: answers under way are cut at once */
  close(): Promise<void>
}

export type ShutdownReport = { drained: boolean; handlersSettled: boolean }

/** How long handlers whose connections were cut get to settle before the database closes. */
export const HANDLER_SETTLE_MS = 5_000

/** Start Carrel: config from `env`, stores, HTTP. Port 0 picks a free port (tests). */
export async function startPds(env: Record<string, string | undefined> = process.env): Promise<Pds> {
  const cfg = await loadConfig(env)
  const lock = takeDataDirectory(cfg.dataDirectory)
  let ctx: AppContext
  try {
    ctx = await createContext(cfg)
  } catch (err) {
    lock.release()
    throw err
  }
  const inFlight = new InFlight()
  let http: RunningServer
  // embedded mode: no PLC directory configured, so run one beside the server (127.0.0.1)
  let plc: EmbeddedPlc | undefined
  let firehose: FirehoseService | undefined
  let metrics: Awaited<ReturnType<typeof startMetrics>> | undefined
  try {
    if (!cfg.plcUrl) {
      plc = await startEmbeddedPlc(ctx.db, cfg.plcPort).catch((err) => {
        throw listenRefusal(err, 'PDS_PLC_PORT', `127.0.0.1:${cfg.plcPort} (the embedded PLC directory)`)
      })
      ctx.identity.setPlcUrl(plc.url)
      ctx.logger.info({ url: plc.url }, 'embedded PLC directory started')
    }
    // the metrics take their figures from the firehose, which starts once HTTP listens
    const subscribers = { count: () => firehose?.subscribeRepos.subscribers.size ?? 0 }
    if (cfg.metricsPort !== undefined) metrics = await startMetrics(ctx, cfg.metricsPort, subscribers.count)
    const app = createApp(ctx, { metrics: metrics?.metrics, inFlight })
    http = await startHttpServer(ctx, app, cfg.port).catch((err) => {
      throw listenRefusal(err, 'PDS_PORT', `port ${cfg.port}`)
    })
  } catch (err) {
    await metrics?.close()
    await plc?.close()
    await ctx.close()
    lock.release()
    throw err
  }
  // port 0 (tests): the real port is known only now; DID documents must carry the real URL
  if (cfg.devMode && cfg.port === 0) cfg.publicUrl = `http://localhost:${http.port}`
  // temporary blobs a crash left behind, then every interval
  await ctx.blobs.startSweeper()
  firehose = await startFirehose(ctx, http.http)
  const started = firehose
  let stopping: Promise<ShutdownReport> | undefined
  const stop = (graceMs: number): Promise<ShutdownReport> =>
    (stopping ??= (async () => {
      await ctx.blobs.stopSweeper()
      // no new connections; each open one closes after its current answer
      http.stopAccepting()
      // subscribers get a close frame (1001) now: the stream has no answer to finish
      await started.close()
      const drained = await http.drain(graceMs)
      // what is still under way is cut: a client sees its connection close before the answer ended
      await http.close()
      // a handler whose client was cut may still be inside a commit: let it settle first
      const handlersSettled = await inFlight.idle(HANDLER_SETTLE_MS)
      await metrics?.close()
      await plc?.close()
      await ctx.close()
      lock.release()
      return { drained, handlersSettled }
    })())
  return {
    ctx,
    cfg,
    http,
    firehose,
    metrics: metrics?.listener,
    url: http.url,
    stop,
    async close() {
      await stop(0)
    },
  }
}

/** One process at a time on a data directory: a second server, or `carrel` working offline, is refused. */
function takeDataDirectory(dataDirectory: string): DataLock {
  try {
    return lockDataDirectory(dataDirectory)
  } catch (err) {
    if (err instanceof DataLockError) throw new ConfigError(err.message)
    throw err
  }
}
