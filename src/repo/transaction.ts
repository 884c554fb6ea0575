import type Database from 'better-sqlite3'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'

type Runner = Database.Transaction<(body: () => unknown) => unknown>

const runners = new WeakMap<Db, Runner>()

/**
 * Runs `fn` as one SQLite write transaction. Firehose events appended inside it are published
 * only after COMMIT, and forgotten if it throws.
 *
 * It begins IMMEDIATE: the write lock is taken, waiting under the busy timeout, before anything
 * is read. A deferred transaction reads first and upgrades to a writer later, and an upgrade that
 * finds the snapshot it read stale fails at once with SQLITE_BUSY, busy timeout or not (seen once
 * under a profiler, against the checkpointer's connection).
 */
export function writeTransaction<T>(db: Db, sequencer: Sequencer, fn: () => T): T {
  let run = runners.get(db)
  if (!run) {
    run = db.sqlite.transaction((body: () => unknown) => body())
    runners.set(db, run)
  }
  let result: T
  try {
    result = run.immediate(fn) as T
  } catch (err) {
    sequencer.rollback()
    throw err
  }
  sequencer.publish()
  return result
}
