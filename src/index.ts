import { ConfigError } from './config.js'
import { startPds, type Pds } from './pds.js'

function run(pds: Pds): void {
  pds.ctx.logger.info({ url: pds.cfg.publicUrl, port: pds.http.port, dataDirectory: pds.cfg.dataDirectory }, 'carrel started')
  let stopping = false
  async function shutdown(signal: string) {
    if (stopping) return
    stopping = true
    pds.ctx.logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    await pds.close()
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
