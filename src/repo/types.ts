import type { Cid } from '@atproto/lex-data'
import type { LexValue } from '@atproto/lex-data'

export type WriteAction = 'create' | 'update' | 'delete'

/** A blob referenced from a record: {$type: 'blob', ref, mimeType, size} found anywhere in it. */
export type BlobRef = { cid: Cid; mimeType: string; size: number }

/** One record write, validated and encoded, ready for the MST. */
export type PreparedWrite =
  | {
      action: 'create' | 'update'
      collection: string
      rkey: string
      uri: string
      record: Record<string, LexValue>
      cid: Cid
      bytes: Uint8Array
      /** blobs the record references, with the lexicon's accept/maxSize where known */
      blobs: { ref: BlobRef; accept?: string[]; maxSize?: number }[]
      swapCid?: Cid | null
      validationStatus: 'valid' | 'unknown' | undefined
    }
  | {
      action: 'delete'
      collection: string
      rkey: string
      uri: string
      swapCid?: Cid | null
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
  /** ops as applied, with the previous record CID for updates and deletes */
  ops: { action: WriteAction; collection: string; rkey: string; cid: Cid | null; prev: Cid | null }[]
  /** encoded blocks of the signed commit object */
  commitBytes: Uint8Array
}

/**
 * Hooks run by the write path for every commit:
 * - `prepare` runs before the transaction, outside the per-DID lock's critical SQL (may be async),
 *   and may throw an XRPC error to refuse the commit (e.g. a record references a missing blob);
 * - `inTx` runs synchronously inside the commit's SQLite transaction (blob refs, indexer rows).
 */
export type CommitHook = {
  prepare?(did: string, writes: PreparedWrite[]): Promise<void> | void
  inTx?(did: string, writes: PreparedWrite[], result: CommitResult): void
}
