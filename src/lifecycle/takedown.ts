import { decode as cborDecode } from '@atproto/lex-cbor'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow, AccountStore } from '../accounts/account-store.js'
import { accountStatus } from '../accounts/status.js'
import type { TakedownStore } from '../accounts/takedown-store.js'
import type { AccountTokenStore } from '../auth/account-tokens.js'
import type { SessionStore } from '../auth/session-store.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import type { DerivedIndex } from '../indexer/rebuild.js'
import type { Logger } from '../logger.js'
import type { BlobService } from '../repo/blob-service.js'
import type { RepoService } from '../repo/service.js'
import { writeTransaction } from '../repo/transaction.js'
import type { RecordValue } from '../repo/types.js'
import { announceActiveInTx } from './announce-active.js'
import type { AccountMail } from '../mail/account-mail.js'

/** `com.atproto.admin.defs#statusAttr` */
export type StatusAttr = { applied: boolean; ref?: string }

/** A record named by its path in a repo. */
export type RecordPath = { did: string; collection: string; rkey: string }

function notFound(did: string): never {
  throw new InvalidRequestError(`Account not found: ${did}`, 'AccountNotFound')
}

/**
 * Takedowns by the host (com.atproto.admin.updateSubjectStatus): of an account, of one record,
 * of one blob. Nothing is deleted: what is taken down is only not served (src/accounts/status.ts
 * decides that), until the takedown is lifted or the account deleted.
 *
 * An account's takedown is one transaction: the flag, the end of its sessions and of its
 * pending tokens (as the reference ends them), and `#account {active:false,
 * status:"takendown"}`. Lifting it is one transaction too, which announces what the account is
 * now: still deactivated (`#account` deactivated), or active, announced as an activation is
 * (`#identity`, `#account {active:true}`, `#sync`), so that a relay that dropped the repo takes
 * it back. Record and blob takedowns send nothing: the firehose carries repos, and the record
 * stays in the signed tree.
 */
export class Takedowns {
  constructor(
    private d: {
      db: Db
      accounts: AccountStore
      store: TakedownStore
      sessions: SessionStore
      accountTokens: AccountTokenStore
      mail: AccountMail
      sequencer: Sequencer
      repo: RepoService
      blobs: BlobService
      /** the derived indexes (library, updates): a record path taken down is kept out of them */
      indexes: readonly DerivedIndex[]
      logger: Logger
    },
  ) {}

  takeDownAccount(did: string, ref: string | undefined): void {
    writeTransaction(this.d.db, this.d.sequencer, () => {
      if (!this.d.accounts.getByDid(did)) notFound(did)
      this.d.accounts.setTakedown(did, ref || new Date().toISOString())
      this.d.sessions.revokeAllForDid(did)
      this.d.accountTokens.deleteAllForDid(did)
      this.d.sequencer.appendAccountInTx(did, false, 'takendown')
    })
    this.d.mail.tokensWithdrawn(did)
    this.d.logger.info({ did }, 'account taken down')
  }

  /** Lifting a takedown that is not there changes nothing and announces nothing. */
  liftAccountTakedown(did: string): void {
    const lifted = writeTransaction(this.d.db, this.d.sequencer, () => {
      const account = this.d.accounts.getByDid(did)
      if (!account) notFound(did)
      if (!account.takedown_ref) return false
      this.d.accounts.setTakedown(did, null)
      this.announceInTx(this.d.accounts.getByDid(did)!)
      return true
    })
    if (lifted) this.d.logger.info({ did }, 'account takedown lifted')
  }

  /**
   * The admin's `deactivated` attribute for an account that is taken down: the flag alone
   * changes (what the account will be once the takedown is lifted), nothing is announced, since
   * the account is not served either way. Returns false, changing nothing, when the account is
   * not taken down: its owner's deactivation and activation rules apply then.
   */
  setDeactivatedWhileTakenDown(did: string, deactivated: boolean): boolean {
    return writeTransaction(this.d.db, this.d.sequencer, () => {
      const account = this.d.accounts.getByDid(did)
      if (!account) notFound(did)
      if (!account.takedown_ref) return false
      this.d.accounts.setDeactivated(did, deactivated ? (account.deactivated_at ?? new Date().toISOString()) : null)
      return true
    })
  }

  /** Says again what the account is (`#account`, or the three events of an active one). */
  announceAccount(did: string): void {
    writeTransaction(this.d.db, this.d.sequencer, () => {
      const account = this.d.accounts.getByDid(did)
      if (!account) notFound(did)
      this.announceInTx(account)
    })
  }

  private announceInTx(account: AccountRow): void {
    const status = accountStatus(account)
    if (status.active) announceActiveInTx(this.d, account.did, account.handle)
    else this.d.sequencer.appendAccountInTx(account.did, false, status.status)
  }

  accountStatus(did: string): { takedown: StatusAttr; deactivated: StatusAttr } | undefined {
    const account = this.d.accounts.getByDid(did)
    if (!account) return undefined
    return {
      takedown: account.takedown_ref ? { applied: true, ref: account.takedown_ref } : { applied: false },
      deactivated: { applied: account.deactivated_at !== null },
    }
  }

  /**
   * A record's path is taken down, whatever it holds now: updated, or deleted and written again,
   * it stays hidden. `cid` is the version the action was taken on (a strongRef's).
   */
  takeDownRecord(path: RecordPath, cid: string, ref: string | undefined): void {
    if (!this.d.accounts.getByDid(path.did)) notFound(path.did)
    this.d.db.sqlite.transaction(() => {
      this.d.store.takeDownRecord(path.did, path.collection, path.rkey, cid, ref || new Date().toISOString())
      for (const index of this.indexesOf(path.collection)) index.removeInTx(path.did, path.collection, path.rkey)
    })()
    this.d.logger.info({ uri: `at://${path.did}/${path.collection}/${path.rkey}` }, 'record taken down')
  }

  liftRecordTakedown(path: RecordPath): void {
    if (!this.d.accounts.getByDid(path.did)) notFound(path.did)
    const lifted = this.d.db.sqlite.transaction(() => {
      if (!this.d.store.liftRecord(path.did, path.collection, path.rkey)) return false
      // the record as it stands now goes back into the indexes
      const current = this.d.repo.getRecordBytes(path.did, path.collection, path.rkey)
      for (const index of this.indexesOf(path.collection)) {
        index.removeInTx(path.did, path.collection, path.rkey)
        if (current) index.addInTx({ ...path, cid: current.cid, value: cborDecode(current.bytes) as RecordValue })
      }
      return true
    })()
    this.d.store.forgetDidIfNone(path.did)
    if (lifted) {
      this.d.logger.info({ uri: `at://${path.did}/${path.collection}/${path.rkey}` }, 'record takedown lifted')
    }
  }

  private indexesOf(collection: string): DerivedIndex[] {
    return this.d.indexes.filter((index) => index.collections.includes(collection))
  }

  /** The record's current CID (or, when it is gone, the one taken down) and its takedown; undefined: neither. */
  recordStatus(path: RecordPath): { cid: string; takedown: StatusAttr } | undefined {
    const takedown = this.d.store.record(path.did, path.collection, path.rkey)
    const current = this.d.repo.records.get(path.did, path.collection, path.rkey)
    const cid = current?.cid ?? takedown?.cid
    if (cid === undefined) return undefined
    return { cid, takedown: takedown ? { applied: true, ref: takedown.ref } : { applied: false } }
  }

  /** A blob of `did` (stored or not) is taken down; an upload of the same bytes stays hidden. */
  takeDownBlob(did: string, cid: string, ref: string | undefined): void {
    if (!this.d.accounts.getByDid(did)) notFound(did)
    this.d.store.takeDownBlob(did, cid, ref || new Date().toISOString())
    this.d.logger.info({ did, cid }, 'blob taken down')
  }

  liftBlobTakedown(did: string, cid: string): void {
    if (!this.d.accounts.getByDid(did)) notFound(did)
    if (this.d.store.liftBlob(did, cid)) this.d.logger.info({ did, cid }, 'blob takedown lifted')
  }

  /** undefined: the account holds no such blob (temporary uploads included) and none was taken down. */
  blobStatus(did: string, cid: string): { takedown: StatusAttr } | undefined {
    const takedown = this.d.store.blob(did, cid)
    if (!takedown && !this.d.blobs.table.get(did, cid)) return undefined
    return { takedown: takedown ? { applied: true, ref: takedown.ref } : { applied: false } }
  }
}
