import { getBlobCid, isBlobRef } from '@atproto/lex-data'
import type { Lexicons } from '@atproto/lexicon'
import { LexiconWalker } from './lexicon-walk.js'

export type BlobConstraint = { cid: string; path: string; accept?: string[]; maxSize?: number }

const blobWalker = new LexiconWalker((def) => def.type === 'blob')

/**
 * The blob fields a record's lexicon declares, with their `accept` and `maxSize`, for each blob
 * the record actually holds there. Unknown collection or unknown union variant: nothing to enforce.
 */
export function blobConstraints(lexicons: Lexicons, collection: string, record: unknown): BlobConstraint[] {
  const out: BlobConstraint[] = []
  blobWalker.walkRecord(lexicons, collection, record, collection, (def, value, path) => {
    if (!isBlobRef(value)) return
    out.push({
      cid: getBlobCid(value).toString(),
      path,
      accept: Array.isArray(def.accept) ? (def.accept as string[]) : undefined,
      maxSize: typeof def.maxSize === 'number' ? def.maxSize : undefined,
    })
  })
  return out
}

/** `accept` patterns: exact types, `type/*` and `*\/*`. */
export function mimeAccepted(mime: string, accept: string[] | undefined): boolean {
  if (!accept || accept.length === 0) return true
  const m = mime.toLowerCase()
  return accept.some((p) => {
    const a = p.toLowerCase()
    if (a === '*/*' || a === '*') return true
    if (a.endsWith('/*')) return m.startsWith(a.slice(0, -1))
    return a === m
  })
}
