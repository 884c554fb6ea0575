import Database from 'better-sqlite3'
import { join } from 'node:path'

/** Another process (a server, or a `carrel` command working offline) has the data directory. */
export class DataDirectoryInUseError extends Error {}

export type DataLock = { path: string; release(): void }

export const LOCK_FILE = 'carrel.lock'

/**
 * Takes the data directory for this process: an exclusive SQLite lock (a POSIX record lock) on
 * `<dir>/carrel.lock`, held until `release()` or until the process ends. The kernel drops the
 * lock with the process however it ends (kill -9, a crash), so a stale lock never blocks the next
 * start; the file left behind means nothing by itself. Throws DataDirectoryInUseError when
 * another process holds it. (Not for network filesystems, whose record locks SQLite warns of.)
 */
export function lockDataDirectory(dataDirectory: string): DataLock {
  const path = join(dataDirectory, LOCK_FILE)
  const conn = new Database(path, { timeout: 0 })
  try {
    conn.pragma('locking_mode = EXCLUSIVE')
    // the first write transaction takes the exclusive lock; in this locking mode it is kept
    conn.exec('BEGIN EXCLUSIVE; COMMIT')
  } catch (err) {
    conn.close()
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new DataDirectoryInUseError(`${dataDirectory} is in use by another process (a running Carrel server, or a carrel command)`)
    }
    throw err
  }
  return {
    path,
    release() {
      if (conn.open) conn.close()
    },
  }
}
