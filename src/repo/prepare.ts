import { TID } from '@atproto/common'
import type { Cid } from '@atproto/lex-data'
import type { Lexicons, LexRecord } from '@atproto/lexicon'
import { isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { withoutStackTraces } from '../lexicon-validation.js'
import { encodeRecord } from './cid.js'
import { assertRecordFormats } from './record-formats.js'
import { RecordShapeError, recordBlobs, withValidatorBlobRefs } from './record-value.js'
import type { PreparedDelete, PreparedRecordWrite, RecordValue } from './types.js'

/** Largest encoded record block the firehose and relays accept. */
export const MAX_RECORD_BYTES = 1_000_000

export type ValidateMode = boolean | undefined

export function assertCollection(collection: string): void {
  if (!isValidNsid(collection)) throw new InvalidRequestError(`Invalid collection: ${collection}`)
}

export function assertRecordKey(rkey: string): void {
  if (!isValidRecordKey(rkey)) throw new InvalidRequestError(`Invalid record key: ${rkey}`)
}

function recordDef(lexicons: Lexicons, collection: string): LexRecord | undefined {
  const def = lexicons.getDef(collection)
  return def?.type === 'record' ? (def as LexRecord) : undefined
}

function assertKeyMatchesLexicon(def: LexRecord, collection: string, rkey: string): void {
  const key = def.key ?? 'any'
  const ok =
    key === 'any' ||
    (key === 'tid' && isValidTid(rkey)) ||
    (key === 'nsid' && isValidNsid(rkey)) ||
    (key.startsWith('literal:') && rkey === key.slice('literal:'.length))
  if (!ok) throw new InvalidRequestError(`Invalid record key for ${collection}: expected ${key}, got ${rkey}`)
}

/** A key for a new record: a TID, or the literal the lexicon requires (e.g. `self`). */
export function newRecordKey(lexicons: Lexicons, collection: string): string {
  const key = recordDef(lexicons, collection)?.key
  if (key?.startsWith('literal:')) return key.slice('literal:'.length)
  return TID.nextStr()
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * A record write, from the record as the XRPC layer parsed it (atproto data: CIDs, bytes and
 * blob objects already converted and checked against the data model): `$type` filled in or
 * checked, the lexicon's key type and schema checked (unless `validate` is false), encoded.
 */
export function prepareRecordWrite(
  lexicons: Lexicons,
  opts: {
    did: string
    action: 'create' | 'update'
    collection: string
    /** absent for a create: this server chooses it (newRecordKey) */
    rkey: string | undefined
    record: unknown
    validate: ValidateMode
    swapCid?: Cid | null
  },
): PreparedRecordWrite {
  const { did, action, collection, validate } = opts
  assertCollection(collection)
  if (opts.rkey === undefined && action !== 'create') throw new InvalidRequestError('An update needs an rkey')
  const rkey = opts.rkey ?? newRecordKey(lexicons, collection)
  assertRecordKey(rkey)
  if (!isPlainObject(opts.record)) throw new InvalidRequestError('Record must be an object', 'InvalidRecord')
  const record = (opts.record.$type === undefined ? { ...opts.record, $type: collection } : opts.record) as RecordValue
  if (record.$type !== collection) {
    throw new InvalidRequestError(`Invalid $type: expected ${collection}, got ${String(record.$type)}`, 'InvalidRecord')
  }
  let blobs
  try {
    blobs = recordBlobs(record)
  } catch (err) {
    if (err instanceof RecordShapeError) throw new InvalidRequestError(`Invalid record: ${err.message}`, 'InvalidRecord')
    throw err
  }

  let validationStatus: 'valid' | 'unknown' | undefined
  if (validate !== false) {
    const def = recordDef(lexicons, collection)
    if (!def) {
      if (validate === true) throw new InvalidRequestError(`Lexicon not found: ${collection}`, 'InvalidRecord')
      validationStatus = 'unknown'
    } else {
      assertKeyMatchesLexicon(def, collection, rkey)
      try {
        withoutStackTraces(() => lexicons.assertValidRecord(collection, blobs.length > 0 ? withValidatorBlobRefs(record) : record))
      } catch (err) {
        throw new InvalidRequestError(`Invalid ${collection} record: ${(err as Error).message}`, 'InvalidRecord')
      }
      assertRecordFormats(lexicons, collection, record)
      validationStatus = 'valid'
    }
  }

  const { bytes, cid } = encodeRecord(record)
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new InvalidRequestError(`Record is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`, 'RecordTooLarge')
  }
  return {
    action,
    collection,
    rkey,
    uri: `at://${did}/${collection}/${rkey}`,
    record,
    cid,
    bytes,
    blobs,
    swapCid: opts.swapCid,
    validationStatus,
    // a TID of this server's choosing, not a literal the lexicon fixes
    keyChosenHere: opts.rkey === undefined && isValidTid(rkey),
  }
}

export function prepareDelete(opts: { did: string; collection: string; rkey: string; swapCid?: Cid | null }): PreparedDelete {
  assertCollection(opts.collection)
  assertRecordKey(opts.rkey)
  return {
    action: 'delete',
    collection: opts.collection,
    rkey: opts.rkey,
    uri: `at://${opts.did}/${opts.collection}/${opts.rkey}`,
    swapCid: opts.swapCid,
  }
}
