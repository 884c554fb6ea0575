import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'

/**
 * Runs `fn` as one SQLite transaction. Firehose events appended inside it are published
 * only after COMMIT, and forgotten if it throws.
 */
export function writeTransaction<T>(db: Db, sequencer: Sequencer, fn: () => T): T {
  let result: T
  try {
    result = db.sqlite.transaction(fn)()
  } catch (err) {
    sequencer.rollback()
    throw err
  }
  sequencer.publish()
  return result
}
