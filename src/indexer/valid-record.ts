import type { Lexicons } from '@atproto/lexicon'
import { withoutStackTraces } from '../lexicon-validation.js'
import { assertRecordFormats } from '../repo/record-formats.js'
import { withValidatorBlobRefs } from '../repo/record-value.js'
import type { RecordValue } from '../repo/types.js'

/**
 * Whether the record is valid as the write path validates one (lexicon, then string formats).
 * The indexes ask for records that did not come through that validation (reindex, an imported
 * repo, a write with `validate: false`): an invalid one stays in the repo but is not indexed.
 */
export function isValidRecord(lexicons: Lexicons, collection: string, record: RecordValue): boolean {
  try {
    withoutStackTraces(() => {
      lexicons.assertValidRecord(collection, withValidatorBlobRefs(record))
      assertRecordFormats(lexicons, collection, record)
    })
    return true
  } catch {
    return false
  }
}
