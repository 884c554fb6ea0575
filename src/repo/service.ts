import { TID } from '@atproto/common'
import { parseCid, type Cid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { KeyedLock } from '../keyed-lock.js'
import { BlockCache, BlockTable, SqliteBlockstore } from './block-store.js'
import { BlockSet } from './block-set.js'
import { encodeCar } from './car.js'
import { cidToString } from './cid.js'
import { signCommit } from './commit.js'
import { buildCommit, type BuiltCommit } from './commit-builder.js'
import { MstNode } from './mst-tree.js'
import { RecordStore } from './record-store.js'
import { RootStore, type RepoRoot } from './root-store.js'
import { SigningKey } from './signing-key.js'
import { writeTransaction } from './transaction.js'
import type { CommitHook, CommitResult, PreparedWrite, RecordOp } from './types.js'

const MAX_CACHED_REPOS = 200
/**
 * A cached MST keeps every node it has loaded or created, so for a busy repo it would grow into
 * a copy of the whole tree: after this many record writes it is swapped for a lazily loaded
 * one (measured: without this a 100,000-record fill left ~400 MB of tree in memory).
 */
const MST_RELOAD_AFTER_WRITES = 1024

type RepoState = { commitCid: string; data: MstNode; dataCid: Cid; writes: number }

/**
 * The write path and the read side of repositories. Commits are serialised per DID. Each one
 * is checked (swaps, existence), built (MST update, signature, CAR slice) and then persisted in
 * a single short SQLite transaction that stores blocks, record rows, the new root, the firehose
 * event and what the commit hooks write, together or not at all.
 */
export class RepoService {
  readonly blocks: BlockTable
  readonly records: RecordStore
  readonly roots: RootStore
  readonly cache = new BlockCache(16 * 1024 * 1024)
  readonly hooks: CommitHook[] = []
  private locks = new KeyedLock()
  private states = new Map<string, RepoState>()
  private keys = new Map<string, SigningKey>()
  private db: Db
  private sequencer: Sequencer
  private accounts: AccountStore

  constructor(opts: { db: Db; sequencer: Sequencer; accounts: AccountStore }) {
    this.db = opts.db
    this.sequencer = opts.sequencer
    this.accounts = opts.accounts
    this.blocks = new BlockTable(opts.db)
    this.records = new RecordStore(opts.db)
    this.roots = new RootStore(opts.db)
  }

  storage(did: string): SqliteBlockstore {
    return new SqliteBlockstore(did, this.blocks, this.cache)
  }

  /** The account's repo signing key (kept once read). */
  async signingKey(did: string): Promise<SigningKey> {
    let key = this.keys.get(did)
    if (!key) {
      const account = this.accounts.getByDid(did)
      if (!account) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
      key = await SigningKey.fromPrivateKey(new Uint8Array(account.signing_key))
      this.keys.set(did, key)
    }
    return key
  }

  /** The signing key if it was read already: no await on a hot path. */
  cachedSigningKey(did: string): SigningKey | undefined {
    return this.keys.get(did)
  }

  private loadState(did: string, root: RepoRoot): RepoState {
    const cached = this.states.get(did)
    if (cached && cached.commitCid === root.cid) return cached
    const dataRoot = parseCid(root.data_cid)
    const state = { commitCid: root.cid, data: MstNode.load(this.storage(did), dataRoot), dataCid: dataRoot, writes: 0 }
    this.remember(did, state)
    return state
  }

  private remember(did: string, state: RepoState) {
    this.states.delete(did)
    this.states.set(did, state)
    if (this.states.size > MAX_CACHED_REPOS) this.states.delete(this.states.keys().next().value!)
  }

  /**
   * The first, empty commit of a new repo. `inTx` runs first inside the same transaction
   * (the account row, its #identity and #account events), then the #commit and #sync events,
   * unless `announce` is false (an account arriving by migration: deactivated, its repo still to
   * be imported; relays hear of it when it is activated).
   */
  createRepo(did: string, key: SigningKey, inTx: () => void, opts: { announce?: boolean } = {}): Promise<CommitResult> {
    return this.locks.run(did, async () => {
      const data = MstNode.empty()
      const dataCid = data.cid!
      const rev = TID.nextStr()
      const { bytes: commitBytes, cid: commitCid } = signCommit(key, { did, rev, data: dataCid })
      const commitCidStr = cidToString(commitCid)
      const dataCidStr = cidToString(dataCid)
      const newBlocks = new BlockSet().set(dataCidStr, data.bytes!).set(commitCidStr, commitBytes)
      const car = encodeCar(commitCid, newBlocks)
      const syncCar = encodeCar(commitCid, [[commitCidStr, commitBytes]])
      const now = new Date().toISOString()
      writeTransaction(this.db, this.sequencer, () => {
        inTx()
        this.blocks.putMany(did, rev, newBlocks)
        this.roots.set(did, commitCidStr, rev, dataCidStr, now)
        if (opts.announce === false) return
        this.sequencer.appendCommitInTx({ repo: did, commit: commitCid, rev, since: null, blocks: car, ops: [], prevData: null })
        this.sequencer.appendSyncInTx(did, rev, syncCar)
      })
      this.keys.set(did, key)
      this.remember(did, { commitCid: commitCidStr, data, dataCid, writes: 0 })
      return { did, cid: commitCid, rev, since: null, prevData: null, data: dataCid, ops: [], commitBytes }
    })
  }

  /** Apply writes as one signed commit. Throws InvalidSwap (nothing changed) on a swap mismatch. */
  commit(did: string, writes: readonly PreparedWrite[], opts: { swapCommit?: string } = {}): Promise<CommitResult> {
    return this.locks.run(did, async () => {
      const root = this.roots.get(did)
      if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
      if (opts.swapCommit !== undefined && opts.swapCommit !== root.cid) {
        throw new InvalidRequestError(`Commit was at ${root.cid}`, 'InvalidSwap')
      }
      const ops = this.checkWrites(did, writes)
      for (const hook of this.hooks) await hook.check?.(did, ops)
      const key = await this.signingKey(did)
      const state = this.loadState(did, root)
      const storage = this.storage(did)
      const built = buildCommit({ did, key, storage, tree: state.data, prevRev: root.rev, ops })
      const result: CommitResult = {
        did,
        cid: built.commitCid,
        rev: built.rev,
        since: root.rev,
        prevData: state.dataCid,
        data: built.dataCid,
        ops,
        commitBytes: built.commitBytes,
      }
      // the per-DID lock makes this the only writer of the repo: `root` is still current
      this.persist(root, built, result)
      for (const [cid, bytes] of built.newBlocks) this.cache.set(cid, bytes)
      const written = state.writes + ops.length
      this.remember(
        did,
        written < MST_RELOAD_AFTER_WRITES
          ? { commitCid: built.commitCidStr, data: built.data, dataCid: built.dataCid, writes: written }
          : { commitCid: built.commitCidStr, data: MstNode.load(storage, built.dataCid), dataCid: built.dataCid, writes: 0 },
      )
      return result
    })
  }

  /** The ops the writes make against the repo as it stands: swaps, duplicates and existence checked. */
  private checkWrites(did: string, writes: readonly PreparedWrite[]): RecordOp[] {
    const seen = new Set<string>()
    return writes.map((w) => {
      let { rkey, uri } = w
      let path = `${w.collection}/${rkey}`
      if (seen.has(path) && !(w.action === 'create' && w.keyChosenHere)) throw new InvalidRequestError(`More than one write to ${path} in one commit`)
      let current = this.records.get(did, w.collection, rkey)
      if (w.action === 'create' && w.keyChosenHere) {
        while (current || seen.has(path)) {
          rkey = TID.nextStr(rkey)
          path = `${w.collection}/${rkey}`
          uri = `at://${did}/${path}`
          current = this.records.get(did, w.collection, rkey)
        }
      }
      seen.add(path)
      if (w.swapCid !== undefined) {
        const expected = w.swapCid === null ? null : cidToString(w.swapCid)
        if ((current?.cid ?? null) !== expected) {
          throw new InvalidRequestError(`Record was at ${current?.cid ?? 'null'}`, 'InvalidSwap')
        }
      }
      const prev = current ? parseCid(current.cid) : null
      const base = { collection: w.collection, rkey, path, uri, prev }
      if (w.action === 'delete') {
        if (!current) throw new InvalidRequestError(`Could not find record: ${w.uri}`)
        return { ...base, action: 'delete', cid: null, record: null, bytes: null, blobs: [] }
      }
      if (w.action === 'create' && current) throw new InvalidRequestError(`Record already exists: ${w.uri}`)
      // a put of a missing record creates it
      const validated = w.validationStatus === 'valid'
      return { ...base, action: current ? 'update' : 'create', cid: w.cid, record: w.record, bytes: w.bytes, blobs: w.blobs, validated }
    })
  }

  /** One transaction: blocks, record rows, the root, the #commit event and the hooks' rows. */
  private persist(root: RepoRoot, built: BuiltCommit, result: CommitResult): void {
    const { did, ops } = result
    // record blocks that left the tree: identical content may still sit at another path
    const releasedRecords = new Set(ops.flatMap((op) => (op.prev ? [cidToString(op.prev)] : [])))
    const removed = [...built.removedNodes, ...releasedRecords, root.cid]
    const now = new Date().toISOString()
    writeTransaction(this.db, this.sequencer, () => {
      this.blocks.putMany(did, built.rev, built.newBlocks)
      for (const op of ops) {
        if (op.action === 'delete') this.records.delete(did, op.collection, op.rkey)
        else this.records.put(did, op.collection, op.rkey, cidToString(op.cid!), built.rev, now)
      }
      for (const cid of removed) {
        if (built.newBlocks.has(cid)) continue
        if (!releasedRecords.has(cid) || !this.records.isCidInUse(did, cid)) {
          this.blocks.delete(did, cid)
          this.cache.delete(cid)
        }
      }
      this.roots.set(did, built.commitCidStr, built.rev, cidToString(built.dataCid), now)
      this.sequencer.appendCommitInTx({
        repo: did,
        commit: built.commitCid,
        rev: built.rev,
        since: root.rev,
        blocks: built.car,
        ops,
        prevData: result.prevData,
      })
      for (const hook of this.hooks) hook.inTx?.(result)
    })
  }

  /**
   * Runs `fn` after every earlier write to the repo, with no other write to it until `fn` is
   * done; the repo's cached tree is forgotten afterwards. For a use case that replaces the repo
   * wholesale in a transaction of its own (an import).
   */
  exclusively<T>(did: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(did, async () => {
      try {
        return await fn()
      } finally {
        this.states.delete(did)
      }
    })
  }

  /**
   * Deletes a whole repository, after every earlier write to it: in ONE transaction `inTx` runs
   * first (the caller's rows: the account, its sessions, its events), then the repo's blocks,
   * record rows and root go, and every commit hook's `deleteRepoInTx` removes its rows of `did`.
   * Nothing of any other repo is touched. Throws (nothing changed) if anything in it throws.
   */
  destroyRepo(did: string, inTx: () => void): Promise<void> {
    return this.locks.run(did, async () => {
      let cids: string[] = []
      writeTransaction(this.db, this.sequencer, () => {
        inTx()
        cids = this.blocks.deleteRepo(did)
        this.records.deleteRepo(did)
        this.roots.delete(did)
        for (const hook of this.hooks) hook.deleteRepoInTx?.(did)
      })
      this.states.delete(did)
      this.keys.delete(did)
      // content-addressed: a neighbour holding the same bytes just reads them again
      for (const cid of cids) this.cache.delete(cid)
    })
  }

  /** The record's CID and decoded-ready bytes, or undefined. */
  getRecordBytes(did: string, collection: string, rkey: string): { cid: string; bytes: Uint8Array } | undefined {
    const row = this.records.get(did, collection, rkey)
    if (!row) return undefined
    const bytes = this.storage(did).getBytesSync(row.cid)
    if (!bytes) return undefined
    return { cid: row.cid, bytes }
  }
}
