import type { Cid, LexValue } from '@atproto/lex-data'

export type WriteAction = 'create' | 'update' | 'delete'

/** A blob referenced from a record: {$type: 'blob', ref, mimeType, size} found anywhere in it. */
export type BlobRef = { cid: Cid; mimeType: string; size: number }

export type RecordValue = Record<string, LexValue>

/** A record to create or put, validated and encoded. `update` of a missing record creates it. */
export type PreparedRecordWrite = {
  action: 'create' | 'update'
  collection: string
  rkey: string
  uri: string
  record: RecordValue
  cid: Cid
  bytes: Uint8Array
  /** blobs the record references */
  blobs: BlobRef[]
  /** the record's CID must be this (null: it must not exist) */
  swapCid?: Cid | null
  validationStatus: 'valid' | 'unknown' | undefined
  /**
   * the rkey is a TID this server chose: if a record already sits there (a client's TID from a
   * generator with the same clock id), the create takes the next free TID instead of failing
   */
  keyChosenHere?: boolean
}

export type PreparedDelete = {
  action: 'delete'
  collection: string
  rkey: string
  uri: string
  swapCid?: Cid | null
}

/** One write of a commit, as the handler asked for it. The write path never changes it. */
export type PreparedWrite = PreparedRecordWrite | PreparedDelete

/**
 * One record operation as the commit applies it: what hooks (blob references, the indexer)
 * and the firehose need, in the order of the writes.
 */
export type RecordOp = {
  /** as applied: a put of a missing record is a `create` */
  action: WriteAction
  collection: string
  rkey: string
  /** `collection/rkey`, the MST key */
  path: string
  uri: string
  /** the new record's CID; null for a delete */
  cid: Cid | null
  /** the record's CID before this commit; null when it did not exist */
  prev: Cid | null
  /** the new record value; null for a delete */
  record: RecordValue | null
  /** the new record's encoded block; null for a delete */
  bytes: Uint8Array | null
  /** blobs the new record references (none for a delete) */
  blobs: BlobRef[]
  /**
   * true: the write path validated the new record against its lexicon and string formats
   * (validationStatus 'valid'), so a hook need not again. Absent for deletes, writes with
   * `validate: false` or an unknown lexicon, and imported records.
   */
  validated?: boolean
}

/** What one commit did, handed to hooks and returned to handlers. */
export type CommitResult = {
  did: string
  cid: Cid
  rev: string
  since: string | null
  /** MST root before and after */
  prevData: Cid | null
  data: Cid
  ops: RecordOp[]
  /** encoded block of the signed commit object */
  commitBytes: Uint8Array
  /**
   * A repo import (com.atproto.repo.importRepo) rather than a commit: `ops` are records of the
   * imported repo, every one a `create`, handed over in several batches inside the import's one
   * transaction, after `deleteRepoInTx` removed what the repo had. The blobs they reference may
   * not be uploaded yet (listMissingBlobs lists them), and the account may be deactivated (it is
   * arriving by migration): the import checks the account's status itself.
   */
  imported?: boolean
}

/**
 * Hooks run by the write path for every commit:
 * - `check` runs before the transaction (may be async) and may throw an XRPC error to refuse
 *   the commit (e.g. a record references a blob that was never uploaded);
 * - `inTx` runs synchronously inside the commit's SQLite transaction (blob references, index
 *   rows); if it throws, nothing of the commit is stored. An import calls it too, once per batch
 *   of imported records, with `imported` set (see CommitResult), and never calls `check`;
 * - `deleteRepoInTx` runs inside the transaction that removes a whole repo.
 */
export type CommitHook = {
  check?(did: string, ops: readonly RecordOp[]): Promise<void> | void
  inTx?(commit: CommitResult): void
  /**
   * Inside the transaction that deletes an account's repository (account deletion, a repo
   * replaced by an import): remove every row this hook keeps for `did`, and nothing else.
   */
  deleteRepoInTx?(did: string): void
}
