import type { CommitResult } from '../../repo/types.js'
import type { ChangeLog } from './change-log.js'

/** What is known of a repo: the rev of its latest logged change to the collections ('' none), and whether the log keeps its changes. */
type Known = { rev: string; logged: boolean }

/**
 * Whether the change log holds a change of some collections after a rev, answered from memory:
 * each repo's latest logged change is read from the log once, then kept up to date by the commit
 * hook, so that asking costs no query. A repo the log has not taken over (no commit since it was
 * created here or imported) has no logged changes until its next commit, which makes the log
 * read again. Answers err on the side of "yes": a commit that rolls back after its hook ran only
 * costs a caller a lookup that finds nothing.
 */
export class LatestChanges {
  private readonly repos = new Map<string, Known>()

  constructor(
    private readonly log: ChangeLog,
    private readonly collections: ReadonlySet<string>,
  ) {}

  hasChangesAfter(did: string, rev: string): boolean {
    let known = this.repos.get(did)
    if (!known) {
      known =
        this.log.floor(did) === undefined
          ? { rev: '', logged: false }
          : { rev: this.log.latestRev(did, [...this.collections]) ?? '', logged: true }
      this.repos.set(did, known)
    }
    return known.rev > rev
  }

  /** Inside the commit's transaction. */
  applyCommitInTx(commit: CommitResult): void {
    const known = this.repos.get(commit.did)
    if (!known) return
    // the log takes a repo over at its first commit (it then holds every record): read it again
    if (commit.imported || !known.logged) this.repos.delete(commit.did)
    else if (commit.ops.some((op) => this.collections.has(op.collection))) known.rev = commit.rev
  }

  /** Inside the transaction that deletes or replaces the repo. */
  deleteRepoInTx(did: string): void {
    this.repos.delete(did)
  }
}
