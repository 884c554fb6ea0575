import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../logger.js'
import { packageRoot } from '../paths.js'

export type Checkpointer = { stop(): Promise<void> }

/**
 * Starts the WAL checkpointer worker (checkpoint-worker.mjs says how it keeps the WAL bounded).
 * The main connection must run with `wal_autocheckpoint = 0`: otherwise every ~30th commit
 * would copy ~1,000 pages and fsync inside the request that happened to cross the threshold;
 * and with `journal_size_limit = -1`, so that no commit ever truncates the WAL file.
 */
export function startCheckpointer(
  dbPath: string,
  logger: Logger,
  { intervalMs = 250, restartBytes = 64 * 1024 * 1024, idleTruncateMs = 30_000 } = {},
): Checkpointer {
  // plain JavaScript kept in the source tree: the same file whether we run from src/ or dist/
  const worker = new Worker(join(packageRoot, 'src', 'db', 'checkpoint-worker.mjs'), {
    workerData: { dbPath, intervalMs, restartBytes, idleTruncateMs },
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
  })
  worker.on('message', (msg: unknown) => {
    if (msg && typeof msg === 'object' && 'error' in msg) logger.warn({ err: (msg as { error: string }).error }, 'WAL checkpoint failed')
  })
  worker.on('error', (err) => logger.error({ err: { message: err.message } }, 'checkpoint worker failed'))
  worker.unref()
  return {
    async stop() {
      const done = new Promise<void>((resolve) => {
        worker.once('exit', () => resolve())
        worker.on('message', (msg) => {
          if (msg === 'stopped') void worker.terminate()
        })
      })
      worker.ref() // the caller waits for it: keep the process alive until it has stopped
      worker.postMessage('stop')
      await done
    },
  }
}
