import { loadConfig, type Config } from './config.js'
import { createContext, type AppContext } from './context.js'
import { createApp, startHttpServer, type RunningServer } from './server.js'

export type Pds = {
  ctx: AppContext
  cfg: Config
  http: RunningServer
  url: string
  close(): Promise<void>
}

/** Start Carrel: config from `env`, stores, HTTP. Port 0 picks a free port (tests). */
export async function startPds(env: Record<string, string | undefined> = process.env): Promise<Pds> {
  const cfg = await loadConfig(env)
  const ctx = await createContext(cfg)
  const app = createApp(ctx)
  let http: RunningServer
  try {
    http = await startHttpServer(ctx, app, cfg.port)
  } catch (err) {
    await ctx.close()
    throw err
  }
  let closed = false
  return {
    ctx,
    cfg,
    http,
    url: http.url,
    async close() {
      if (closed) return
      closed = true
      await http.close()
      await ctx.close()
    },
  }
}
