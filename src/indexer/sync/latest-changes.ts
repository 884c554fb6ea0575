import type { CommitResult } from '../../repo/types.js'
import type { ChangeLog } from './change-log.js'

/**
 * The rev of each repo's latest change to some collections, read from the change log once per
 * repo and then kept up to date by the commit hook, so that asking costs no query. Answers are
 * conservative: a commit that rolls back after its hook ran only makes a later answer say "maybe",
 * and a repo whose log has not taken it over yet (an import, until its next commit) always says
 * "maybe".
 */
export class LatestChanges {
  /** '' when the log holds no change of those collections */
  private readonly revs = new Map<string, string>()

  constructor(
    private readonly log: ChangeLog,
    private readonly collections: ReadonlySet<string>,
  ) {}

  /** Whether the repo may have changed a record of the collections after `rev`. */
  mayHaveChangedAfter(did: string, rev: string): boolean {
    let latest = this.revs.get(did)
    if (latest === undefined) {
      if (this.log.floor(did) === undefined) return true
      latest = this.log.latestRev(did, [...this.collections]) ?? ''
      this.revs.set(did, latest)
    }
    return latest > rev
  }

  /** Inside the commit's transaction. */
  applyCommitInTx(commit: CommitResult): void {
    if (!this.revs.has(commit.did)) return
    if (commit.imported) this.revs.delete(commit.did)
    else if (commit.ops.some((op) => this.collections.has(op.collection))) this.revs.set(commit.did, commit.rev)
  }

  /** Inside the transaction that deletes or replaces the repo. */
  deleteRepoInTx(did: string): void {
    this.revs.delete(did)
  }
}
