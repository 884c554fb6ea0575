import { cborToLexRecord } from '@atproto/repo'
import { lexToJson } from '@atproto/lexicon'

/**
 * A stored record block as a JSON value, through the generic decoder. Records are served through
 * `record-json-text.ts` (`writeRecordJson`), which falls back to this only for bytes the write
 * path never stores: this decoder drops a leading U+FEFF from every string.
 */
export function recordBytesToJson(bytes: Uint8Array): unknown {
  return lexToJson(cborToLexRecord(bytes))
}
