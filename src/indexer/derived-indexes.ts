import type { Lexicons } from '@atproto/lexicon'
import { TakedownStore } from '../accounts/takedown-store.js'
import type { Db } from '../db/index.js'
import { LibraryIndex } from './library/library-index.js'
import type { DerivedIndex } from './rebuild.js'
import { UpdatesIndex } from './updates/updates-index.js'

/**
 * Every index of the indexer room, for a reindex that rebuilds them all in one pass over the
 * repos (`rebuildIndexes`). A new index is added here, so that no reindex forgets it.
 */
export function derivedIndexes(db: Db, lexicons: Lexicons): DerivedIndex[] {
  // record paths the host took down stay out of them, as the commit hooks keep them
  const isTakenDown = new TakedownStore(db).isRecordTakenDown
  return [new LibraryIndex({ db, lexicons, isTakenDown, enabled: true }), new UpdatesIndex({ db, lexicons, isTakenDown })]
}
