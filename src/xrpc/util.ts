import { parseCid, type Cid } from '@atproto/lex-data'
import { lexToJson, type LexValue } from '@atproto/lexicon'
import { ForbiddenError, InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountRow } from '../accounts/account-store.js'
import { assertAccountWritable, assertServed } from '../accounts/status.js'
import type { AppContext } from '../context.js'
import { cidToString } from '../repo/cid.js'
import type { RecordOp } from '../repo/types.js'
import { InputDataError } from './dispatch.js'
import type { XrpcInput } from './types.js'

export type AccessCredentials = { credentials: { type: 'access'; did: string } }

const JSON_TYPE = 'application/json; charset=utf-8'

/** A JSON response whose body is plain JSON already (no CIDs, bytes or blob refs as objects). */
export function plainJson(body: unknown, headers: Record<string, string> = {}) {
  return jsonBytes(Buffer.from(JSON.stringify(body)), headers)
}

/** A JSON response already written as UTF-8 JSON text. */
export function jsonBytes(body: Uint8Array, headers: Record<string, string> = {}) {
  return { encoding: JSON_TYPE, buffer: body, headers }
}

/** A JSON response; lex values in the body (CIDs, bytes, blob refs) become their JSON forms. */
export function json(body: unknown, headers: Record<string, string> = {}) {
  return plainJson(lexToJson(body as LexValue), headers)
}

/** A procedure's JSON input as the dispatcher parsed and validated it against the lexicon. */
export function inputBody<T>(input: XrpcInput | undefined): T {
  return (input?.body ?? {}) as T
}

/**
 * The account behind a `repo` parameter (handle or DID) whose repo is served: RepoNotFound,
 * RepoDeactivated, RepoTakendown... otherwise (`assertServed`).
 */
export function findRepo(ctx: AppContext, repo: string): AccountRow {
  return assertServed(ctx.accounts.resolveRepo(repo), repo)
}

/** The caller may write only to their own, active repo. */
export function assertWritableRepo(ctx: AppContext, repo: string, auth: AccessCredentials): AccountRow {
  const account = ctx.accounts.resolveRepo(repo)
  if (!account) {
    if (repo === auth.credentials.did) throw new InvalidRequestError(`Could not find repo: ${repo}`, 'RepoNotFound')
    throw new ForbiddenError('Cannot write to a repo that is not yours')
  }
  if (account.did !== auth.credentials.did) throw new ForbiddenError('Cannot write to a repo that is not yours')
  assertAccountWritable(account)
  return account
}

/**
 * A record write's error mapping: data the data model refuses inside a record (under one of
 * `recordPaths` of the input, e.g. `record` or `writes`) is InvalidRecord, as the write path
 * names every other problem with a record.
 */
export function recordDataErrors(...recordPaths: string[]) {
  return (err: unknown): unknown => {
    if (err instanceof InputDataError && recordPaths.some((p) => err.path === p || err.path.startsWith(`${p}.`) || err.path.startsWith(`${p}[`))) {
      return new InvalidRequestError(err.errorMessage, 'InvalidRecord')
    }
    return err
  }
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

/** swapCommit, as the CID string the write path compares with */
export function swapCommit(value: unknown): string | undefined {
  return optionalCid(value, 'swapCommit')?.toString()
}

export function validateFlag(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined
}

export function commitMeta(result: { cid: Cid; rev: string }) {
  return { cid: cidToString(result.cid), rev: result.rev }
}

/** The createRecord/putRecord answer, with the repo rev header for read-after-write. */
export function recordWriteOutput(
  write: { validationStatus: 'valid' | 'unknown' | undefined },
  op: RecordOp,
  commit: { cid: Cid; rev: string },
) {
  return plainJson(
    { uri: op.uri, cid: cidToString(op.cid!), commit: commitMeta(commit), validationStatus: write.validationStatus },
    { 'Atproto-Repo-Rev': commit.rev },
  )
}

/** Whether the caller is the repo's own account (any session, a taken-down one's too) or the admin. */
export function isOwnerOrAdmin(auth: unknown, did: string): boolean {
  const c = (auth as { credentials?: { type?: string; did?: string } } | undefined)?.credentials
  return c?.type === 'admin' || (c?.type === 'access' && c.did === did)
}
