import type { Lexicons } from '@atproto/lexicon'
import type { Db } from '../db/index.js'
import { LibraryIndex } from './library/library-index.js'
import type { DerivedIndex } from './rebuild.js'
import { UpdatesIndex } from './updates/updates-index.js'

/**
 * Every index of the indexer room, for a reindex that rebuilds them all in one pass over the
 * repos (`rebuildIndexes`). A new index is added here, so that no reindex forgets it.
 */
export function derivedIndexes(db: Db, lexicons: Lexicons): DerivedIndex[] {
  return [new LibraryIndex({ db, lexicons, enabled: true }), new UpdatesIndex({ db, lexicons })]
}
