import type { Db } from '../../db/index.js'
import type { RepoService } from '../../repo/service.js'
import type { CommitHook, CommitResult } from '../../repo/types.js'
import { ChangeLog } from './change-log.js'
import { ChangesFeed } from './changes-feed.js'
import { DeviceStateStore } from './device-state.js'
import { DEVICE_COLLECTION, Devices } from './devices.js'
import { LatestChanges } from './latest-changes.js'
import { SettingsStore } from './settings.js'

/**
 * The Library Manager's sync: the changes feed (kept by a commit hook in the commit's
 * transaction), device heartbeats and settings (private tables, never in the repo).
 */
export class SyncService {
  readonly changes: ChangesFeed
  readonly devices: Devices
  readonly settings: SettingsStore
  private log: ChangeLog
  private deviceState: DeviceStateStore
  private watchers: LatestChanges[] = []

  constructor(opts: { db: Db; repo: RepoService; changesRetentionMs: number }) {
    this.log = new ChangeLog(opts.db, opts.repo.records, opts.changesRetentionMs)
    this.deviceState = new DeviceStateStore(opts.db)
    this.changes = new ChangesFeed(this.log, opts.repo)
    this.devices = new Devices(this.deviceState, opts.repo)
    this.settings = new SettingsStore(opts.db)
  }

  readonly hook: CommitHook = {
    inTx: (commit) => this.applyCommitInTx(commit),
    deleteRepoInTx: (did) => this.deleteRepoInTx(did),
  }

  /** A watch on each repo's latest change to `collections` (answered from memory; see LatestChanges). */
  watchLatest(collections: readonly string[]): LatestChanges {
    const watcher = new LatestChanges(this.log, new Set(collections))
    this.watchers.push(watcher)
    return watcher
  }

  private applyCommitInTx(commit: CommitResult): void {
    for (const watcher of this.watchers) watcher.applyCommitInTx(commit)
    // an import replaced the repo: the log took nothing of the old one with it (deleteRepoInTx)
    // and takes the new one over at its next commit; devices catch up from getRepo meanwhile
    if (commit.imported) return
    this.log.applyCommitInTx(commit, Date.now())
    for (const op of commit.ops) {
      if (op.action === 'delete' && op.collection === DEVICE_COLLECTION) this.deviceState.deleteInTx(commit.did, op.rkey)
    }
  }

  /** The account's repo is going or being replaced by an import: the log of its changes. */
  private deleteRepoInTx(did: string): void {
    this.log.deleteRepoInTx(did)
    for (const watcher of this.watchers) watcher.deleteRepoInTx(did)
  }

  /**
   * The account is deleted: its private state too (devices' last-seen state, settings), which no
   * repo holds and an import keeps.
   */
  deleteAccountInTx(did: string): void {
    this.deviceState.deleteRepoInTx(did)
    this.settings.deleteRepoInTx(did)
  }
}
