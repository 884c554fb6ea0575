import type { Lexicons } from '@atproto/lexicon'
import type { AccountStore } from '../../accounts/account-store.js'
import { accountStatus } from '../../accounts/status.js'
import type { Db } from '../../db/index.js'
import type { Logger } from '../../logger.js'
import type { BlobService } from '../../repo/blob-service.js'
import { blobUrl } from '../../repo/blob-url.js'
import type { CommitHook } from '../../repo/types.js'
import { DeltaCreator } from './create-delta.js'
import { DeltaMaker } from './delta-maker.js'
import { InstallReports } from './install-reports.js'
import { RolloutBuckets } from './rollout.js'
import { UpdateOffers } from './update-offers.js'
import type { IsTakenDown } from '../record-index.js'
import { openUpdatesIndex, type UpdatesIndex } from './updates-index.js'

/**
 * App updates: releases and install reports indexed by a commit hook in each commit's
 * transaction (checkForUpdates, getInstallStatus, getAdoption read only these tables), and
 * server-made delta patches (createDelta).
 */
export class UpdatesService {
  readonly index: UpdatesIndex
  readonly hook: CommitHook
  readonly offers: UpdateOffers
  readonly reports: InstallReports
  readonly deltas: DeltaCreator
  private readonly maker = new DeltaMaker()

  constructor(
    private readonly opts: {
      db: Db
      lexicons: Lexicons
      /** a release or install record the host took down is not indexed (so not offered) */
      isTakenDown: IsTakenDown
      accounts: AccountStore
      blobs: BlobService
      /** the server's public URL (read at each call: a test server learns its port after start-up) */
      publicUrl: () => string
      /** a folder for the delta worker's files */
      workDir: string
      logger?: Logger
    },
  ) {
    this.index = openUpdatesIndex(opts)
    this.hook = this.index.hook
    this.offers = new UpdateOffers(
      opts.db,
      new RolloutBuckets(opts.db),
      (did, cid) => blobUrl(opts.publicUrl(), did, cid),
    )
    this.reports = new InstallReports(opts.db)
    this.deltas = new DeltaCreator({ db: opts.db, blobs: opts.blobs, maker: this.maker, workDir: opts.workDir, logger: opts.logger })
  }

  /** Whether an account's install records count in getAdoption: only those of the accounts this server serves. */
  isServed(did: string): boolean {
    return accountStatus(this.opts.accounts.getByDid(did)).active
  }

  close(): void {
    this.maker.close()
  }
}
