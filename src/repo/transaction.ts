import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'

/**
 * Runs `fn` as one SQLite transaction. Firehose events appended inside it are published
 * only after COMMIT, and forgotten if it throws.
 */
const runners = new WeakMap<Db, (fn: () => unknown) => unknown>()

export function writeTransaction<T>(db: Db, sequencer: Sequencer, fn: () => T): T {
  let run = runners.get(db)
  if (!run) {
    run = db.sqlite.transaction((body: () => unknown) => body())
    runners.set(db, run)
  }
  let result: T
  try {
    result = run(fn) as T
  } catch (err) {
    sequencer.rollback()
    throw err
  }
  sequencer.publish()
  return result
}
