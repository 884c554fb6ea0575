import { TID } from '@atproto/common'
import type { Cid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { SqliteBlockstore } from './block-store.js'
import { BlockSet } from './block-set.js'
import { encodeCar } from './car.js'
import { cidToString } from './cid.js'
import { signCommit } from './commit.js'
import { coveringProof, MstEdit, type MstNode } from './mst-tree.js'
import type { SigningKey } from './signing-key.js'
import type { RecordOp } from './types.js'

/** Largest CAR slice a #commit event may carry (relays drop bigger ones). */
export const MAX_COMMIT_CAR_BYTES = 2_000_000

/** A signed commit, computed and encoded, not yet stored. */
export type BuiltCommit = {
  rev: string
  commitCid: Cid
  commitCidStr: string
  commitBytes: Uint8Array
  /** the new MST root */
  data: MstNode
  dataCid: Cid
  /** blocks to store: new MST nodes, new record blocks, the commit */
  newBlocks: BlockSet
  /** MST nodes that left the tree */
  removedNodes: string[]
  /** the #commit event's CAR slice: new blocks plus each op's covering proof (Sync 1.1) */
  car: Uint8Array
}

/**
 * Builds the next commit of a repo from its current tree and the ops: the MST edit, the
 * signed commit, and the firehose CAR slice, refusing a commit whose slice relays would drop.
 * Pure computation over the block store: nothing is written.
 */
export function buildCommit(opts: {
  did: string
  key: SigningKey
  storage: SqliteBlockstore
  tree: MstNode
  prevRev: string
  ops: readonly RecordOp[]
}): BuiltCommit {
  const { did, storage, ops } = opts
  const edit = new MstEdit(storage, opts.tree)
  const leaves = new BlockSet()
  for (const op of ops) {
    if (op.action === 'delete') edit.delete(op.path)
    else {
      leaves.set(cidToString(op.cid!), op.bytes!)
      edit.put(op.path, op.cid!)
    }
  }
  const { root: data, newBlocks: newNodes, removedCids } = edit.finish()
  const dataCid = data.cid!
  const newBlocks = new BlockSet().addAll(newNodes).addAll(leaves)
  // what a consumer needs to invert the ops: the covering proof of every path in the new tree
  const proofs = new Map<string, Uint8Array>()
  for (const op of ops) coveringProof(storage, data, op.path, proofs)
  const eventBlocks = new BlockSet().addAll(newBlocks).addAll(proofs)
  const rev = TID.nextStr(opts.prevRev)
  const { bytes: commitBytes, cid: commitCid } = signCommit(opts.key, { did, rev, data: dataCid })
  const commitCidStr = cidToString(commitCid)
  newBlocks.set(commitCidStr, commitBytes)
  eventBlocks.set(commitCidStr, commitBytes)
  // relays check the CAR as sent (header and framing included), so that is what is measured
  const car = encodeCar(commitCid, eventBlocks)
  if (car.length > MAX_COMMIT_CAR_BYTES) {
    throw new InvalidRequestError(
      `Commit is too large: its blocks take ${car.length} bytes as a CAR; the limit is ${MAX_COMMIT_CAR_BYTES}`,
    )
  }
  return { rev, commitCid, commitCidStr, commitBytes, data, dataCid, newBlocks, removedNodes: removedCids, car }
}
