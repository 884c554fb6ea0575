import { TID } from '@atproto/common'
import { parseCid, type Cid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../auth/account-store.js'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { BlockCache, BlockTable, SqliteBlockstore } from './block-store.js'
import { BlockSet } from './block-set.js'
import { encodeCar } from './car.js'
import { cidToString } from './cid.js'
import { signCommit } from './commit.js'
import { coveringProof, MstEdit, MstNode } from './mst-tree.js'
import { RecordStore } from './record-store.js'
import { RootStore } from './root-store.js'
import { SigningKey } from './signing-key.js'
import { writeTransaction } from './transaction.js'
import type { CommitHook, CommitResult, PreparedWrite } from './types.js'

/** Largest CAR slice a #commit event may carry (relays drop bigger ones). */
export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000
const MAX_CACHED_REPOS = 200
/**
 * A cached MST keeps every node it has loaded or created, so for a busy repo it would grow into
 * a copy of the whole tree: after this many record writes it is swapped for a lazily loaded
 * one (measured: without this a 100,000-record fill left ~400 MB of tree in memory).
 */
const MST_RELOAD_AFTER_WRITES = 1024

type RepoState = { commitCid: string; data: MstNode; dataCid: Cid; writes: number }

/**
 * The write path and the read side of repositories. Commits are serialised per DID; each one
 * is computed (MST update, signature, CAR slice) before a single short SQLite transaction
 * that stores blocks, record rows, the new root and the firehose event together.
 */
export class RepoService {
  readonly blocks: BlockTable
  readonly records: RecordStore
  readonly roots: RootStore
  readonly cache = new BlockCache(16 * 1024 * 1024)
  readonly hooks: CommitHook[] = []
  private locks = new Map<string, Promise<unknown>>()
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

  /** Runs `fn` after every earlier write to the same repo has finished. */
  private withLock<T>(did: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(did) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.locks.set(did, tail)
    void tail.then(() => {
      if (this.locks.get(did) === tail) this.locks.delete(did)
    })
    return run
  }

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

  private loadState(did: string, commitCid: string, dataCid: string): RepoState {
    const cached = this.states.get(did)
    if (cached && cached.commitCid === commitCid) return cached
    const dataRoot = parseCid(dataCid)
    const state = { commitCid, data: MstNode.load(this.storage(did), dataRoot), dataCid: dataRoot, writes: 0 }
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
   * (the account row, its #identity and #account events), then the #commit and #sync events.
   */
  createRepo(did: string, key: SigningKey, inTx: () => void): Promise<CommitResult> {
    return this.withLock(did, async () => {
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
        this.sequencer.appendCommitInTx({
          repo: did,
          commit: commitCid,
          rev,
          since: null,
          blocks: car,
          ops: [],
          prevData: null,
        })
        this.sequencer.appendSyncInTx(did, rev, syncCar)
      })
      this.keys.set(did, key)
      this.remember(did, { commitCid: commitCidStr, data, dataCid, writes: 0 })
      return { did, cid: commitCid, rev, since: null, prevData: null, data: dataCid, ops: [], commitBytes }
    })
  }

  /** Apply writes as one signed commit. Throws InvalidSwap (nothing changed) on a swap mismatch. */
  commit(did: string, writes: PreparedWrite[], opts: { swapCommit?: string } = {}): Promise<CommitResult> {
    return this.withLock(did, async () => {
      const root = this.roots.get(did)
      if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
      if (opts.swapCommit !== undefined && opts.swapCommit !== root.cid) {
        throw new InvalidRequestError(`Commit was at ${root.cid}`, 'InvalidSwap')
      }
      const seen = new Set<string>()
      const ops: CommitResult['ops'] = []
      for (const w of writes) {
        const path = `${w.collection}/${w.rkey}`
        if (seen.has(path)) throw new InvalidRequestError(`More than one write to ${path} in one commit`)
        seen.add(path)
        const current = this.records.get(did, w.collection, w.rkey)
        if (w.swapCid !== undefined) {
          const expected = w.swapCid === null ? null : cidToString(w.swapCid)
          if ((current?.cid ?? null) !== expected) {
            throw new InvalidRequestError(`Record was at ${current?.cid ?? 'null'}`, 'InvalidSwap')
          }
        }
        const prev = current ? parseCid(current.cid) : null
        if (w.action === 'create' && current) {
          throw new InvalidRequestError(`Record already exists: ${w.uri}`)
        }
        if (w.action === 'delete') {
          if (!current) throw new InvalidRequestError(`Could not find record: ${w.uri}`)
          ops.push({ action: 'delete', collection: w.collection, rkey: w.rkey, cid: null, prev })
        } else {
          // an update of a missing record is a create (putRecord semantics)
          const action = current ? 'update' : 'create'
          if (action !== w.action) (w as { action: string }).action = action
          ops.push({ action, collection: w.collection, rkey: w.rkey, cid: w.cid, prev })
        }
      }
      for (const hook of this.hooks) await hook.prepare?.(did, writes)

      const key = await this.signingKey(did)
      const state = this.loadState(did, root.cid, root.data_cid)
      const prevData = state.dataCid
      const storage = this.storage(did)
      const edit = new MstEdit(storage, state.data)
      const leaves = new BlockSet()
      for (const w of writes) {
        const dataKey = `${w.collection}/${w.rkey}`
        if (w.action === 'delete') edit.delete(dataKey)
        else {
          leaves.set(cidToString(w.cid), w.bytes)
          edit.put(dataKey, w.cid)
        }
      }
      const { root: data, newBlocks: newNodes, removedCids } = edit.finish()
      const dataCid = data.cid!
      // new blocks are stored; the firehose slice also carries each write's covering proof
      // (Sync 1.1: what a consumer needs to invert the ops)
      const newBlocks = new BlockSet().addAll(newNodes).addAll(leaves)
      const proofs = new Map<string, Uint8Array>()
      for (const w of writes) coveringProof(storage, data, `${w.collection}/${w.rkey}`, proofs)
      const eventBlocks = new BlockSet().addAll(newBlocks).addAll(proofs)
      const rev = TID.nextStr(root.rev)
      const { bytes: commitBytes, cid: commitCid } = signCommit(key, { did, rev, data: dataCid })
      const commitCidStr = cidToString(commitCid)
      newBlocks.set(commitCidStr, commitBytes)
      eventBlocks.set(commitCidStr, commitBytes)
      const eventBytes = eventBlocks.byteSize
      if (eventBytes > MAX_COMMIT_BLOCKS_BYTES) {
        throw new InvalidRequestError(
          `Commit is too large (${eventBytes} bytes of blocks; the limit is ${MAX_COMMIT_BLOCKS_BYTES})`,
        )
      }
      const car = encodeCar(commitCid, eventBlocks)
      // record blocks that left the tree: identical content may still sit at another path
      const releasedRecords = new Set(ops.flatMap((op) => (op.prev ? [cidToString(op.prev)] : [])))
      const removed = [...removedCids, ...releasedRecords, root.cid]
      const result: CommitResult = { did, cid: commitCid, rev, since: root.rev, prevData, data: dataCid, ops, commitBytes }
      const now = new Date().toISOString()

      // the per-DID lock makes this the only writer of the repo: `root` is still current
      writeTransaction(this.db, this.sequencer, () => {
        this.blocks.putMany(did, rev, newBlocks)
        for (const w of writes) {
          if (w.action === 'delete') this.records.delete(did, w.collection, w.rkey)
          else this.records.put(did, w.collection, w.rkey, cidToString(w.cid), rev, now)
        }
        for (const cid of removed) {
          if (newBlocks.has(cid)) continue
          if (!releasedRecords.has(cid) || !this.records.isCidInUse(did, cid)) {
            this.blocks.delete(did, cid)
            this.cache.delete(cid)
          }
        }
        this.roots.set(did, commitCidStr, rev, cidToString(dataCid), now)
        this.sequencer.appendCommitInTx({
          repo: did,
          commit: commitCid,
          rev,
          since: root.rev,
          blocks: car,
          ops: ops.map((op) => ({
            action: op.action,
            path: `${op.collection}/${op.rkey}`,
            cid: op.cid,
            ...(op.prev && op.action !== 'create' ? { prev: op.prev } : {}),
          })),
          prevData,
        })
        for (const hook of this.hooks) hook.inTx?.(did, writes, result)
      })
      for (const [cid, bytes] of newBlocks) this.cache.set(cid, bytes)
      const written = state.writes + writes.length
      this.remember(
        did,
        written < MST_RELOAD_AFTER_WRITES
          ? { commitCid: commitCidStr, data, dataCid, writes: written }
          : { commitCid: commitCidStr, data: MstNode.load(storage, dataCid), dataCid, writes: 0 },
      )
      return result
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

