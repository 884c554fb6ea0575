import { AtUri } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import type { RecordPath } from '../../../../lifecycle/takedown.js'

export const REPO_REF = 'com.atproto.admin.defs#repoRef'
export const STRONG_REF = 'com.atproto.repo.strongRef'
export const REPO_BLOB_REF = 'com.atproto.admin.defs#repoBlobRef'

/** The record an at-uri names (its authority may be a handle); undefined: no such account here. */
export function recordPath(ctx: AppContext, uri: string): RecordPath | undefined {
  let parsed: AtUri
  try {
    parsed = new AtUri(uri)
  } catch {
    throw new InvalidRequestError(`Invalid at-uri: ${uri}`)
  }
  if (!parsed.collection || !parsed.rkey) throw new InvalidRequestError(`The at-uri does not name a record: ${uri}`)
  const account = ctx.accounts.resolveRepo(parsed.host)
  return account && { did: account.did, collection: parsed.collection, rkey: parsed.rkey }
}

export const recordUri = (p: RecordPath) => `at://${p.did}/${p.collection}/${p.rkey}`
