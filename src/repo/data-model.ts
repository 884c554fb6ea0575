import { parseCid, type Cid, type LexValue } from '@atproto/lex-data'

/** Deepest nesting of maps/arrays a record may have. */
export const MAX_DATA_DEPTH = 32

/** Data the atproto data model does not allow; `path` names where (e.g. `record.tags[2]`). */
export class DataModelError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(path ? `${path}: ${reason}` : reason)
  }
}

const RAW_CODEC = 0x55
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/

function fail(path: string, msg: string): never {
  throw new DataModelError(path, msg)
}

function toCid(value: unknown, path: string): Cid {
  if (typeof value !== 'string') fail(path, '$link must be a string')
  let cid: Cid
  try {
    cid = parseCid(value)
  } catch {
    fail(path, 'invalid CID in $link')
  }
  if (cid.version !== 1) fail(path, 'CIDv0 links are not allowed')
  return cid
}

function toBytes(value: unknown, path: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64_RE.test(value)) fail(path, '$bytes must be a base64 string')
  return new Uint8Array(Buffer.from(value, 'base64'))
}

function checkString(s: string, path: string): void {
  if (!s.isWellFormed()) fail(path, 'string contains a lone surrogate')
}

/**
 * Converts a record's JSON into atproto data (CIDs for $link, bytes for $bytes, blob refs),
 * refusing everything the data model forbids, whether or not a lexicon is known: floats,
 * malformed $link/$bytes/blob objects, non-string or empty $type, other $-prefixed keys,
 * lone surrogates and nesting deeper than MAX_DATA_DEPTH. It also refuses the key `__proto__`,
 * as @atproto/lex-json does: as a property of a plain object it sets the prototype instead (the
 * field vanished from the stored record while validation read the fields under it). Any other
 * string is a key, NUL and other control characters included: the data model's keys are
 * strings, and a string is any Unicode text (atproto.com specs/data-model, "Data Types").
 */
export function jsonToLexStrict(value: unknown, path = '', depth = 0, maxDepth = MAX_DATA_DEPTH): LexValue {
  if (depth > maxDepth) fail(path, `data is nested more than ${maxDepth} levels deep`)
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(path, 'floats are not allowed; use an integer or a string')
    if (!Number.isSafeInteger(value)) fail(path, 'integer is out of range')
    return value
  }
  if (typeof value === 'string') {
    checkString(value, path)
    return value
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => jsonToLexStrict(v, `${path}[${i}]`, depth + 1, maxDepth))
  }
  if (typeof value !== 'object') fail(path, `unsupported value of type ${typeof value}`)
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
  if ('$link' in obj) {
    if (keys.length !== 1) fail(path, '$link objects may have no other fields')
    return toCid(obj.$link, `${path}.$link`)
  }
  if ('$bytes' in obj) {
    if (keys.length !== 1) fail(path, '$bytes objects may have no other fields')
    return toBytes(obj.$bytes, `${path}.$bytes`)
  }
  if ('$type' in obj) {
    if (typeof obj.$type !== 'string' || obj.$type.length === 0) fail(path, '$type must be a non-empty string')
    if (obj.$type === 'blob') return toBlobRef(obj, path)
  }
  const out: Record<string, LexValue> = {}
  for (const key of keys) {
    checkString(key, path)
    if (key.startsWith('$') && key !== '$type') fail(path, `unknown reserved field ${key}`)
    if (key === '__proto__') fail(path ? `${path}.${key}` : key, 'this field name is not allowed')
    const v = obj[key]
    if (v === undefined) continue
    out[key] = jsonToLexStrict(v, path ? `${path}.${key}` : key, depth + 1, maxDepth)
  }
  return out
}

function toBlobRef(obj: Record<string, unknown>, path: string): LexValue {
  for (const key of Object.keys(obj)) {
    if (!['$type', 'ref', 'mimeType', 'size'].includes(key)) fail(path, `unexpected field ${key} in blob`)
  }
  const ref = obj.ref as Record<string, unknown> | undefined
  if (!ref || typeof ref !== 'object' || Object.keys(ref).length !== 1 || !('$link' in ref)) {
    fail(path, 'blob ref must be a {$link} object')
  }
  const cid = toCid(ref.$link, `${path}.ref`)
  if (cid.code !== RAW_CODEC) fail(path, 'blob ref must use the raw codec')
  if (typeof obj.mimeType !== 'string' || obj.mimeType.length === 0) fail(path, 'blob mimeType must be a non-empty string')
  checkString(obj.mimeType, path)
  if (typeof obj.size !== 'number' || !Number.isSafeInteger(obj.size) || obj.size < 0) {
    fail(path, 'blob size must be a non-negative integer')
  }
  return { $type: 'blob', ref: cid, mimeType: obj.mimeType, size: obj.size }
}

function isCidValue(value: object): value is Cid {
  return (value as { asCID?: unknown }).asCID === value
}

/**
 * The same rules as `jsonToLexStrict`, for a value decoded from DAG-CBOR (an imported record):
 * integers only and within the safe range, CIDv1 links, well-formed strings, no reserved `$`
 * keys but `$type` (non-empty), blob objects complete and well-formed, no `__proto__`, nesting
 * at most `maxDepth`. Throws DataModelError naming the path.
 */
export function assertLexData(value: unknown, path = '', depth = 0, maxDepth = MAX_DATA_DEPTH): void {
  if (depth > maxDepth) fail(path, `data is nested more than ${maxDepth} levels deep`)
  if (value === null || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(path, 'floats are not allowed')
    if (!Number.isSafeInteger(value)) fail(path, 'integer is out of range')
    return
  }
  if (typeof value === 'string') return checkString(value, path)
  if (typeof value !== 'object') fail(path, `unsupported value of type ${typeof value}`)
  if (value instanceof Uint8Array) return
  if (isCidValue(value)) {
    if (value.version !== 1) fail(path, 'CIDv0 links are not allowed')
    return
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) assertLexData(value[i], `${path}[${i}]`, depth + 1, maxDepth)
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) fail(path, 'unsupported object')
  const obj = value as Record<string, unknown>
  if ('$type' in obj && (typeof obj.$type !== 'string' || obj.$type.length === 0)) fail(path, '$type must be a non-empty string')
  if (obj.$type === 'blob') return assertBlob(obj, path)
  for (const key of Object.keys(obj)) {
    checkString(key, path)
    if (key.startsWith('$') && key !== '$type') fail(path, `unknown reserved field ${key}`)
    if (key === '__proto__') fail(path ? `${path}.${key}` : key, 'this field name is not allowed')
    assertLexData(obj[key], path ? `${path}.${key}` : key, depth + 1, maxDepth)
  }
}

function assertBlob(obj: Record<string, unknown>, path: string): void {
  for (const key of Object.keys(obj)) {
    if (!['$type', 'ref', 'mimeType', 'size'].includes(key)) fail(path, `unexpected field ${key} in blob`)
  }
  const ref = obj.ref
  if (typeof ref !== 'object' || ref === null || !isCidValue(ref)) fail(path, 'blob ref must be a CID link')
  if (ref.version !== 1 || ref.code !== RAW_CODEC) fail(path, 'blob ref must be a CIDv1 with the raw codec')
  if (typeof obj.mimeType !== 'string' || obj.mimeType.length === 0) fail(path, 'blob mimeType must be a non-empty string')
  checkString(obj.mimeType, path)
  if (typeof obj.size !== 'number' || !Number.isSafeInteger(obj.size) || obj.size < 0) {
    fail(path, 'blob size must be a non-negative integer')
  }
}
