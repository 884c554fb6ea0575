import type { Lexicons } from '@atproto/lexicon'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import { IndexVersionRow, rebuildIfOutOfDate } from '../rebuild.js'
import { RecordIndex, type IndexedCollection, type IsTakenDown } from '../record-index.js'
import { installEntry, releaseEntry, type InstallEntry, type ReleaseEntry } from './update-entry.js'
import { INSTALL_COLLECTION, installRuleViolation, RELEASE_COLLECTION, releaseRuleViolation } from './update-rules.js'
import { UpdateTables } from './update-tables.js'

/**
 * The version of what the tables keep of a record. When it differs from the one recorded in
 * update_index_state (or none is, as after migration 008), the server rebuilds the tables at
 * start-up. Raise it whenever update-entry.ts or the tables would index a record differently.
 * 2: records whose path the host took down are left out (a database indexed before keeps them
 * until this rebuild).
 */
const UPDATES_INDEX_VERSION = 2

/**
 * Query tables for app.carrel.update.release and .install records (record-index.ts says how
 * commits, takedowns and rebuilds change them). The write path refuses records that break
 * update-rules.ts.
 */
export class UpdatesIndex extends RecordIndex {
  constructor(opts: { db: Db; lexicons: Lexicons; isTakenDown: IsTakenDown; logger?: Logger }) {
    const tables = new UpdateTables(opts.db)
    const releases: IndexedCollection<ReleaseEntry> = {
      collection: RELEASE_COLLECTION,
      violation: (rkey, record) => releaseRuleViolation(rkey, record),
      entry: (did, rkey, cid, record, entryOpts) => releaseEntry(opts.lexicons, did, rkey, cid, record, entryOpts),
      add: (entry) => tables.addRelease(entry),
      remove: (did, rkey) => tables.removeRelease(did, rkey),
    }
    const installs: IndexedCollection<InstallEntry> = {
      collection: INSTALL_COLLECTION,
      violation: (_rkey, record) => installRuleViolation(record),
      entry: (did, rkey, cid, record, entryOpts) => installEntry(opts.lexicons, did, rkey, cid, record, entryOpts),
      add: (entry) => tables.addInstall(entry),
      remove: (did, rkey) => tables.removeInstall(did, rkey),
    }
    super('updates', [releases, installs], {
      what: 'update index',
      isTakenDown: opts.isTakenDown,
      removeRepo: (did) => tables.removeRepo(did),
      clear: () => tables.clear(),
      version: new IndexVersionRow(opts.db, 'update_index_state', UPDATES_INDEX_VERSION),
      logger: opts.logger,
    })
  }
}

/**
 * The update index for the server, rebuilt first when it is out of date (a database from before
 * migration 008, or a raised version). A rebuild that fails is logged and leaves the tables as
 * they were and out of date, so that the next start tries again.
 */
export function openUpdatesIndex(opts: { db: Db; lexicons: Lexicons; isTakenDown: IsTakenDown; logger?: Logger }): UpdatesIndex {
  const index = new UpdatesIndex(opts)
  rebuildIfOutOfDate(opts.db, index, opts.logger)
  return index
}
