import { cborToLexRecord } from '@atproto/repo'
import { lexToJson } from '@atproto/lexicon'

/** A stored record block as the JSON value XRPC responses carry. */
export function recordBytesToJson(bytes: Uint8Array): unknown {
  return lexToJson(cborToLexRecord(bytes))
}
