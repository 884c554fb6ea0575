// Runs in a worker thread with its own connection: copies the WAL back into the database file
// (and fsyncs) off the main thread, so no request ever waits for a checkpoint. Plain JavaScript
// with no loader, to keep the worker's memory small.
//
// A PASSIVE checkpoint never blocks the server, but it does not rewind the WAL either: SQLite
// starts the WAL over only when a writer begins while every frame is already checkpointed, and
// with a steady stream of commits some always land while the checkpoint runs (measured: 636 MB
// of WAL after 10 s of sequential writes). So once the WAL holds more than `restartBytes`, each
// PASSIVE round that copied every frame it could see is followed at once by a RESTART, which
// takes the writer lock, copies the few frames committed in between, and leaves every frame
// checkpointed: the next commit starts the WAL from the beginning. It holds the lock 2-4 ms
// (measured); a commit that meets it waits longer, as SQLite's busy handler sleeps in 1, 2, 5,
// 10 ms steps (up to ~19 ms in tests/checkpointer.test.ts), about once per `restartBytes` of
// writes. When a reader (an export's
// read transaction) keeps the PASSIVE round from copying everything, the RESTART is not tried,
// as it would hold the writer lock while waiting for that reader; rounds then come every
// RETRY_MS until it can. Its waits (for a commit in flight) are cut short by a small busy
// timeout: when it cannot finish at once it gives up and a later round tries again. The file
// itself is only truncated after `idleTruncateMs` without a commit (truncating releases disk
// blocks, which on a filesystem mounted with `discard` waits for the device: never in a
// commit's way).
import { statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'

const { dbPath, intervalMs, restartBytes, idleTruncateMs } = workerData
const db = new Database(dbPath)
db.pragma('busy_timeout = 10')
db.pragma('wal_autocheckpoint = 0')
db.pragma('cache_size = -500')
const frameBytes = db.pragma('page_size', { simple: true }) + 24

const walFileBytes = () => {
  try {
    return statSync(`${dbPath}-wal`).size
  } catch {
    return 0
  }
}

const RETRY_MS = 10
let lastFrames = -1
let lastCommitSeen = Date.now()

/** One round; returns when the next should run. */
function checkpoint() {
  const [{ log: frames, checkpointed }] = db.pragma('wal_checkpoint(PASSIVE)')
  if (frames !== lastFrames) {
    lastFrames = frames
    lastCommitSeen = Date.now()
  }
  if (frames * frameBytes > restartBytes) {
    if (checkpointed < frames) return RETRY_MS
    const [{ busy }] = db.pragma('wal_checkpoint(RESTART)')
    return busy ? RETRY_MS : intervalMs
  }
  if (Date.now() - lastCommitSeen > idleTruncateMs && walFileBytes() > 0) db.pragma('wal_checkpoint(TRUNCATE)')
  return intervalMs
}

let stopped = false
let timer = setTimeout(function round() {
  if (stopped) return
  let next = intervalMs
  try {
    next = checkpoint()
  } catch (err) {
    parentPort?.postMessage({ error: err.message })
  }
  timer = setTimeout(round, next)
}, intervalMs)

parentPort?.on('message', (msg) => {
  if (msg !== 'stop') return
  clearTimeout(timer)
  stopped = true
  try {
    db.pragma('busy_timeout = 5000')
    db.pragma('wal_checkpoint(TRUNCATE)')
  } catch {
    // a reader still holds the WAL: it is checkpointed at the next start
  }
  db.close()
  parentPort?.postMessage('stopped')
})
