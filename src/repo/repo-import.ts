import { TID } from '@atproto/common'
import { decode as cborDecode } from '@atproto/lex-cbor'
import { parseCid, type Cid } from '@atproto/lex-data'
import type { Lexicons } from '@atproto/lexicon'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../db/index.js'
import type { Sequencer } from '../firehose/sequencer.js'
import { encodeCar } from './car.js'
import { readCarStream } from './car-reader.js'
import { cidToString } from './cid.js'
import { signCommit } from './commit.js'
import { ImportStaging, type StagedLeaf } from './import-staging.js'
import { ImportVerifier, type VerifiedRepo } from './import-verify.js'
import { recordBlobs } from './record-value.js'
import type { RepoService } from './service.js'
import { writeTransaction } from './transaction.js'
import type { BlobRef, CommitResult, RecordOp, RecordValue } from './types.js'

/** Imported records handed to the commit hooks at a time (each batch decoded, then dropped). */
const HOOK_BATCH = 256

export type ImportResult = {
  /** the new commit: the imported tree, signed with this server's key for the account */
  commitCid: string
  rev: string
  /** the imported commit's rev (the new one comes after it) */
  importedRev: string
  records: number
  nodes: number
  /** how long the replacing transaction took, in ms (the write lock and the event loop are held meanwhile) */
  transactionMs: number
}

export type ImportOptions = {
  /** most bytes the CAR may have */
  maxBytes: number
  /** the `#atproto` key of the account's DID document (did:key), that the commit must be signed with */
  signingKey: string
  /**
   * First thing inside the replacing transaction: the caller's checks (throw to refuse, nothing
   * is then changed). `announce`: append a #sync of the new commit (an active account's relays
   * must take the new state; an account arriving by migration is announced on activation).
   */
  inTx: () => { announce: boolean }
}

/**
 * com.atproto.repo.importRepo, the repository part: the CAR is streamed into staging (each
 * block checked against its CID as it arrives, never the whole CAR in memory), then verified
 * (ImportVerifier: commit signature, MST, every record), and only then, under the repo's write
 * lock, ONE transaction replaces what the repo had: its blocks, record rows and every commit
 * hook's rows (`deleteRepoInTx`) go; the blocks the imported tree reaches, a record row per
 * record, and the hooks' view of the imported records (`inTx` with `imported`, in batches) come
 * in; the root becomes a new commit of the imported tree signed with this server's key for the
 * account, with a rev after both the imported one and the repo's own (the DID document names
 * this server's key once the account has moved here, and relays check revs only go up).
 * Anything refused or failing leaves the repo as it was; the staging rows are removed either way.
 */
export class RepoImporter {
  constructor(
    private d: {
      db: Db
      sequencer: Sequencer
      repo: RepoService
      lexicons: Lexicons
    },
  ) {
    // imports do not survive a restart: what a crash left in staging goes
    ImportStaging.clearAll(d.db)
  }

  async importCar(did: string, car: AsyncIterable<Uint8Array>, opts: ImportOptions): Promise<ImportResult> {
    const staging = new ImportStaging(this.d.db)
    try {
      const { roots, blocks } = await readCarStream(car, { maxBytes: opts.maxBytes })
      if (roots.length !== 1) throw new InvalidRequestError(`The CAR must have exactly one root (the commit); it has ${roots.length}`)
      for await (const block of blocks) staging.addBlock(block.cidStr, block.bytes)
      const verified = await new ImportVerifier(staging, this.d.lexicons).verify({ root: roots[0]!, did, signingKey: opts.signingKey })
      return await this.d.repo.exclusively(did, () => this.replace(did, staging, verified, opts.inTx))
    } finally {
      await staging.clear()
    }
  }

  private async replace(did: string, staging: ImportStaging, verified: VerifiedRepo, inTx: ImportOptions['inTx']): Promise<ImportResult> {
    const { repo, db, sequencer } = this.d
    const key = await repo.signingKey(did)
    const current = repo.roots.get(did)
    const after = current && current.rev > verified.commit.rev ? current.rev : verified.commit.rev
    const rev = TID.nextStr(after)
    const data = verified.commit.data
    const { bytes: commitBytes, cid: commitCid } = signCommit(key, { did, rev, data })
    const commitCidStr = cidToString(commitCid)
    const now = new Date().toISOString()
    let removed: string[] = []
    const started = performance.now()
    writeTransaction(db, sequencer, () => {
      const { announce } = inTx()
      removed = repo.blocks.deleteRepo(did)
      repo.records.deleteRepo(did)
      for (const hook of repo.hooks) hook.deleteRepoInTx?.(did)
      staging.copyInTx(did, rev, now)
      repo.blocks.putMany(did, rev, [[commitCidStr, commitBytes]])
      repo.roots.set(did, commitCidStr, rev, cidToString(data), now)
      this.runHooksInTx(staging, { did, cid: commitCid, rev, since: current?.rev ?? null, prevData: null, data, ops: [], commitBytes, imported: true })
      if (announce) sequencer.appendSyncInTx(did, rev, encodeCar(commitCid, [[commitCidStr, commitBytes]]))
    })
    const transactionMs = performance.now() - started
    // content-addressed: a block another repo holds is just read again
    for (const cid of removed) repo.cache.delete(cid)
    return { commitCid: commitCidStr, rev, importedRev: verified.commit.rev, records: verified.records, nodes: verified.nodes, transactionMs }
  }

  /** Every imported record to every hook, as creates, a batch at a time in key order. */
  private runHooksInTx(staging: ImportStaging, base: CommitResult): void {
    const hooks = this.d.repo.hooks.filter((h) => h.inTx)
    if (hooks.length === 0) return
    let afterCollection = ''
    let afterRkey = ''
    for (;;) {
      const page = staging.leafPage(afterCollection, afterRkey, HOOK_BATCH)
      if (page.length === 0) return
      const ops = page.map((leaf) => importedRecordOp(base.did, leaf, staging))
      for (const hook of hooks) hook.inTx!({ ...base, ops })
      const last = page[page.length - 1]!
      afterCollection = last.collection
      afterRkey = last.rkey
    }
  }
}

/**
 * An imported record as a `create` op. Its CID, block and value are read when a hook first asks
 * for them (and `blobs` decodes only a record that has any): most hooks look at a few collections
 * only, and building every op in full inside the transaction held the event loop for most of a
 * second per 100,000 records. The getters are the object's own, so a copy (`{...op}`) has them.
 */
function importedRecordOp(did: string, leaf: StagedLeaf, staging: ImportStaging): RecordOp {
  const path = `${leaf.collection}/${leaf.rkey}`
  let cid: Cid | undefined
  let bytes: Uint8Array | undefined
  let record: RecordValue | undefined
  let blobs: BlobRef[] | undefined
  const block = () => (bytes ??= staging.block(leaf.cid)!)
  const value = () => (record ??= cborDecode(block()) as unknown as RecordValue)
  return {
    action: 'create',
    collection: leaf.collection,
    rkey: leaf.rkey,
    path,
    uri: `at://${did}/${path}`,
    prev: null,
    get cid(): Cid {
      return (cid ??= parseCid(leaf.cid))
    },
    get bytes(): Uint8Array {
      return block()
    },
    get record(): RecordValue {
      return value()
    },
    get blobs(): BlobRef[] {
      return (blobs ??= leaf.blobs > 0 ? recordBlobs(value()) : [])
    },
  }
}
