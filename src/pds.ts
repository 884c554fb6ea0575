import { ConfigError, loadConfig, type Config } from './config.js'
import { createContext, type AppContext } from './context.js'
import { DataLockError, lockDataDirectory, type DataLock } from './db/data-lock.js'
import { startEmbeddedPlc, type EmbeddedPlc } from './identity/embedded-plc.js'
import { startFirehose, type FirehoseService } from './firehose/index.js'
import { createApp, startHttpServer, type RunningServer } from './server.js'

export type Pds = {
  ctx: AppContext
  cfg: Config
  http: RunningServer
  /** subscribeRepos, event-log pruning, crawl requests */
  firehose: FirehoseService
  url: string
  close(): Promise<void>
}

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
  const app = createApp(ctx)
  let http: RunningServer
  // embedded mode: no PLC directory configured, so run one beside the server (127.0.0.1)
  let plc: EmbeddedPlc | undefined
  try {
    if (!cfg.plcUrl) {
      plc = await startEmbeddedPlc(ctx.db, cfg.plcPort)
      ctx.identity.setPlcUrl(plc.url)
      ctx.logger.info({ url: plc.url }, 'embedded PLC directory started')
    }
    http = await startHttpServer(ctx, app, cfg.port)
  } catch (err) {
    await plc?.close()
    await ctx.close()
    lock.release()
    throw err
  }
  // port 0 (tests): the real port is known only now; DID documents must carry the real URL
  if (cfg.devMode && cfg.port === 0) cfg.publicUrl = `http://localhost:${http.port}`
  // temporary blobs a crash left behind, then every interval
  await ctx.blobs.startSweeper()
  const firehose = await startFirehose(ctx, http.http)
  let closed = false
  return {
    ctx,
    cfg,
    http,
    firehose,
    url: http.url,
    async close() {
      if (closed) return
      closed = true
      await ctx.blobs.stopSweeper()
      await firehose.close()
      await http.close()
      await plc?.close()
      await ctx.close()
      lock.release()
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
