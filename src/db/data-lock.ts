import Database from 'better-sqlite3'
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'

/** The data directory's lock cannot be taken (its file is not writable by this user, ...). */
export class DataLockError extends Error {}

/** Another process (a server, or a `carrel` command working offline) has the data directory. */
export class DataDirectoryInUseError extends DataLockError {}

export type DataLock = { path: string; release(): void }

const LOCK_FILE = 'carrel.lock'

/**
 * Takes the data directory for this process: an exclusive SQLite lock (a POSIX record lock) on
 * `<dir>/carrel.lock`, held until `release()` or until the process ends. The kernel drops the
 * lock with the process however it ends (kill -9, a crash), so a stale lock never blocks the next
 * start; the file left behind means nothing by itself. Throws DataDirectoryInUseError when
 * another process holds it. (Not for network filesystems, whose record locks SQLite warns of.)
 */
export function lockDataDirectory(dataDirectory: string): DataLock {
  const path = join(dataDirectory, LOCK_FILE)
  let conn: Database.Database
  try {
    // owner-only like everything the server makes in its data directory
    closeSync(openSync(path, 'a', 0o600))
    conn = new Database(path, { timeout: 0 })
  } catch (err) {
    throw new DataLockError(`cannot open ${path}: ${(err as Error).message} (this user must be able to write it)`)
  }
  try {
    conn.pragma('locking_mode = EXCLUSIVE')
    // the first write transaction takes the exclusive lock; in this locking mode it is kept
    conn.exec('BEGIN EXCLUSIVE; COMMIT')
  } catch (err) {
    conn.close()
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new DataDirectoryInUseError(`${dataDirectory} is in use by another process (a running Carrel server, or a carrel command)`)
    }
    throw new DataLockError(`cannot lock ${path}: ${(err as Error).message} (this user must be able to write it)`)
  }
  return {
    path,
    release() {
      if (conn.open) conn.close()
    },
  }
}
