import { ConfigError } from './config.js'
import { HANDLER_SETTLE_MS, startPds, type Pds } from './pds.js'

/** Past the grace period and the handlers' settling: closing the database and the listeners; then the process exits anyway. */
const CLOSE_MARGIN_MS = 5_000

function run(pds: Pds): void {
  const { cfg, ctx } = pds
  ctx.logger.info({ url: cfg.publicUrl, port: pds.http.port, dataDirectory: cfg.dataDirectory, version: cfg.version }, 'carrel started')
  if (cfg.ignoredReferenceVariables.length > 0) {
    ctx.logger.info({ variables: cfg.ignoredReferenceVariables }, 'reference PDS variables that Carrel does not use (see the README)')
  }
  let stopping = false
  async function shutdown(signal: string) {
    if (stopping) return
    stopping = true
    const started = Date.now()
    ctx.logger.info({ signal, graceMs: cfg.shutdownGraceMs }, 'shutting down: draining connections')
    // a last resort: SQLite's WAL keeps every acknowledged write even then
    const force = setTimeout(() => {
      ctx.logger.error('shutdown took too long; exiting')
      process.exit(1)
    }, cfg.shutdownGraceMs + HANDLER_SETTLE_MS + CLOSE_MARGIN_MS)
    force.unref()
    const report = await pds.stop(cfg.shutdownGraceMs)
    ctx.logger.info({ ...report, ms: Date.now() - started }, 'stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
}

function refuse(err: unknown): never {
  // a configuration the operator must fix: say what, without a stack trace
  if (err instanceof ConfigError) {
    process.stderr.write(`carrel: not starting: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}

// no top-level await: the compiled server is a CommonJS bundle (scripts/build.mjs)
startPds().then(run, refuse)
