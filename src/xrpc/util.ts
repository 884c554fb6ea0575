import { parseCid, type Cid } from '@atproto/lex-data'
import { lexToJson, type LexValue } from '@atproto/lexicon'
import { AuthRequiredError, ForbiddenError, InvalidRequestError } from '@atproto/xrpc-server'
import { accountStatus, type AccountRow } from '../auth/account-store.js'
import type { AppContext } from '../context.js'
import { cidToString } from '../repo/cid.js'

export type AccessCredentials = { credentials: { type: 'access'; did: string } }

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * A JSON response whose body is plain JSON already (no CIDs, bytes or blob refs as objects).
 * Serialised here and handed to xrpc-server as bytes: its own JSON path walks the body again to
 * convert lex values and has express re-parse the Content-Type, a tenth of a small read.
 */
export function plainJson(body: unknown, headers: Record<string, string> = {}) {
  return { encoding: JSON_TYPE, buffer: Buffer.from(JSON.stringify(body)), headers }
}

/** A JSON response; lex values in the body (CIDs, bytes, blob refs) become their JSON forms. */
export function json(body: unknown, headers: Record<string, string> = {}) {
  return plainJson(lexToJson(body as LexValue), headers)
}

/** The account behind a `repo` parameter (handle or DID), or RepoNotFound. */
export function findRepo(ctx: AppContext, repo: string): AccountRow {
  const account = ctx.accounts.resolveRepo(repo)
  if (!account) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
  return account
}

/** The caller may write only to their own, active repo. */
export function assertWritableRepo(ctx: AppContext, repo: string, auth: AccessCredentials): AccountRow {
  const account = ctx.accounts.resolveRepo(repo)
  if (!account) {
    if (repo === auth.credentials.did) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
    throw new ForbiddenError('Cannot write to a repo that is not yours')
  }
  if (account.did !== auth.credentials.did) throw new ForbiddenError('Cannot write to a repo that is not yours')
  const status = accountStatus(account)
  if (!status.active) {
    if (status.status === 'takendown') throw new AuthRequiredError('Account has been taken down', 'AccountTakedown')
    throw new InvalidRequestError('Account is deactivated', 'AccountDeactivated')
  }
  return account
}

export function optionalCid(value: unknown, name: string): Cid | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new InvalidRequestError(`${name} must be a CID string`)
  try {
    return parseCid(value)
  } catch {
    throw new InvalidRequestError(`${name} is not a valid CID`)
  }
}

/** swapRecord: a CID string, or null meaning "the record must not exist yet" */
export function swapCid(value: unknown): Cid | null | undefined {
  if (value === null) return null
  return optionalCid(value, 'swapRecord')
}

export function validateFlag(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined
}

export function commitMeta(result: { cid: Cid; rev: string }) {
  return { cid: cidToString(result.cid), rev: result.rev }
}

/** The createRecord/putRecord answer, with the repo rev header for read-after-write. */
export function recordWriteOutput(
  write: { uri: string; cid: Cid; validationStatus: 'valid' | 'unknown' | undefined },
  commit: { cid: Cid; rev: string },
) {
  return plainJson(
    { uri: write.uri, cid: cidToString(write.cid), commit: commitMeta(commit), validationStatus: write.validationStatus },
    { 'Atproto-Repo-Rev': commit.rev },
  )
}

/** swapCommit from a request body, as the CID string the write path compares with */
export function swapCommit(body: Record<string, unknown>): string | undefined {
  return optionalCid(body.swapCommit, 'swapCommit')?.toString()
}
