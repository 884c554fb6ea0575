import { BlobRef as LexiconBlobRef } from '@atproto/lexicon'
import type { Cid, LexValue } from '@atproto/lex-data'
import { MAX_DATA_DEPTH } from './data-model.js'
import type { BlobRef, RecordValue } from './types.js'

/** A record that breaks a rule of the data model for records; `path` names where. */
export class RecordShapeError extends Error {}

function isCid(value: object): value is Cid {
  return (value as { asCID?: unknown }).asCID === value
}

/** A blob as the data-model conversion produces it: a plain object with a CID `ref`. */
function isBlob(value: Record<string, unknown>): boolean {
  return value.$type === 'blob' && typeof value.ref === 'object' && value.ref !== null && isCid(value.ref)
}

/**
 * The blobs a record references, checking on the way that it nests no deeper than
 * MAX_DATA_DEPTH (a record sits inside a request body, whose own limit is looser).
 */
export function recordBlobs(record: RecordValue): BlobRef[] {
  const out: BlobRef[] = []
  const walk = (value: LexValue, path: string, depth: number) => {
    if (depth > MAX_DATA_DEPTH) throw new RecordShapeError(`${path}: data is nested more than ${MAX_DATA_DEPTH} levels deep`)
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array || isCid(value)) return
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) walk(value[i]!, `${path}[${i}]`, depth + 1)
      return
    }
    const obj = value as Record<string, LexValue>
    if (isBlob(obj)) {
      out.push({ cid: obj.ref as Cid, mimeType: obj.mimeType as string, size: obj.size as number })
      return
    }
    for (const key in obj) walk(obj[key]!, path ? `${path}.${key}` : key, depth + 1)
  }
  walk(record, '', 0)
  return out
}

/**
 * The record as @atproto/lexicon's validator wants it: its blob fields must be instances of the
 * validator's own BlobRef class, which must never reach the encoder (it would encode the class's
 * fields). Copies only the objects on the way to a blob.
 */
export function withValidatorBlobRefs(value: LexValue): LexValue {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || isCid(value)) return value
  if (Array.isArray(value)) {
    let copy: LexValue[] | undefined
    value.forEach((item, i) => {
      const converted = withValidatorBlobRefs(item)
      if (converted !== item) (copy ??= [...value])[i] = converted
    })
    return copy ?? value
  }
  const obj = value as Record<string, LexValue>
  if (isBlob(obj)) return new LexiconBlobRef(obj.ref as never, obj.mimeType as string, obj.size as number) as unknown as LexValue
  let copy: Record<string, LexValue> | undefined
  for (const key in obj) {
    const converted = withValidatorBlobRefs(obj[key]!)
    if (converted !== obj[key]) (copy ??= { ...obj })[key] = converted
  }
  return copy ?? obj
}
