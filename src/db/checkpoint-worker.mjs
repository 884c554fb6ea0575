// Runs in a worker thread with its own connection: copies the WAL back into the database file
// (and fsyncs) off the main thread, so no request ever waits for a checkpoint. Plain JavaScript
// with no loader, to keep the worker's memory small.
import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'

const { dbPath, intervalMs } = workerData
const db = new Database(dbPath)
db.pragma('busy_timeout = 5000')
db.pragma('wal_autocheckpoint = 0')
db.pragma('cache_size = -500')

let stopped = false
const timer = setInterval(() => {
  if (stopped) return
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
  } catch (err) {
    parentPort?.postMessage({ error: err.message })
  }
}, intervalMs)

parentPort?.on('message', (msg) => {
  if (msg !== 'stop') return
  clearInterval(timer)
  stopped = true
  try {
    db.pragma('wal_checkpoint(TRUNCATE)')
  } catch {
    // a reader still holds the WAL: it is checkpointed at the next start
  }
  db.close()
  parentPort?.postMessage('stopped')
})
