import type { Lexicons } from '@atproto/lexicon'
import {
  isAtIdentifierString,
  isAtUriString,
  isValidDatetime,
  isValidDid,
  isValidHandle,
  isValidNsid,
  isValidRecordKey,
  isValidTid,
  parseLanguageString,
} from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { LexiconWalker } from './lexicon-walk.js'

// @atproto/lexicon (0.7.x) checks string formats leniently: datetimes without a time zone (or
// with `+0000`, or before year 0), `jaja` or `JA` as a language, repeated variant subtags, CIDv0
// strings and URIs over 8 KB all pass. These are the spec's rules, as the atproto interop
// fixtures (tests/fixtures/interop/syntax) pin them down; they run after the library's checks.

/**
 * The CID string syntax the interop fixtures define (the Go reference's rule): multibase
 * characters, 8 to 256 of them. It does not decode the CID; the fixtures count some strings that
 * do not decode as valid.
 */
const CID_SYNTAX = /^[a-zA-Z0-9+=]{8,256}$/
/** A CIDv0 string: base58btc of a bare sha2-256 multihash. atproto uses CIDv1 only. */
const CIDV0 = /^Qm[1-9A-HJ-NP-Za-km-z]{44}$/

/**
 * RFC 3986: a scheme (a letter, then letters, digits, `+`, `-`, `.`), a colon, and a non-empty
 * rest without whitespace or control characters. @atproto/syntax's `isValidUri` refuses schemes
 * with `-` or `.` (`content-type:`, `microsoft.windows.camera:`), which the spec allows.
 */
const URI_SYNTAX = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+$/
const MAX_URI_BYTES = 8192

type FormatRule = { isValid: (s: string) => boolean; expected: string }

const FORMAT_RULES: Record<string, FormatRule> = {
  'at-identifier': { isValid: isAtIdentifierString, expected: 'a valid DID or handle' },
  'at-uri': { isValid: (s) => isAtUriString(s), expected: 'a valid AT-URI' },
  cid: { isValid: (s) => CID_SYNTAX.test(s) && !CIDV0.test(s), expected: 'a valid CID string (CIDv1)' },
  datetime: {
    isValid: isValidDatetime,
    expected: 'a valid datetime (RFC 3339 with a time zone, e.g. 1985-04-12T23:20:50.123Z)',
  },
  did: { isValid: isValidDid, expected: 'a valid DID' },
  handle: { isValid: isValidHandle, expected: 'a valid handle' },
  // strict: lower-case primary subtag, no repeated variant or extension subtags
  language: { isValid: (s) => parseLanguageString(s) !== null, expected: 'a valid language tag (BCP 47)' },
  nsid: { isValid: isValidNsid, expected: 'a valid NSID' },
  'record-key': { isValid: isValidRecordKey, expected: 'a valid record key' },
  tid: { isValid: isValidTid, expected: 'a valid TID' },
  uri: {
    isValid: (s) => URI_SYNTAX.test(s) && Buffer.byteLength(s) <= MAX_URI_BYTES,
    expected: `a valid URI (RFC 3986, at most ${MAX_URI_BYTES} bytes)`,
  },
}

const formatWalker = new LexiconWalker(
  (def) => def.type === 'string' && typeof def.format === 'string' && Object.hasOwn(FORMAT_RULES, def.format),
)

/**
 * Checks every formatted string field of a record that has already passed lexicon validation
 * against the spec's syntax for its format. Throws `InvalidRecord` naming the first bad field's
 * path (e.g. `subject/cid`, `langs/0`). Only the parts of the lexicon that hold formatted strings
 * are walked.
 */
export function assertRecordFormats(lexicons: Lexicons, collection: string, record: unknown): void {
  formatWalker.walkRecord(lexicons, collection, record, '', (def, value, path) => {
    if (typeof value !== 'string') return
    const rule = FORMAT_RULES[def.format as string]
    if (!rule.isValid(value)) {
      throw new InvalidRequestError(`Invalid ${collection} record: ${path} must be ${rule.expected}`, 'InvalidRecord')
    }
  })
}
