import { isValidTid } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { RepoService } from '../../repo/service.js'
import { isBefore, LAST_IDX, type ChangeLog, type FeedPosition } from './change-log.js'
import { JsonBytes, writeRecordJson } from '../../repo/record-json-text.js'

export type ChangeAction = 'create' | 'update' | 'delete'

/** One change; `block`: the record's DAG-CBOR (absent for a delete). */
export type Change = { rev: string; action: ChangeAction; collection: string; rkey: string; cid?: string; block?: Uint8Array }

/** `rev`: the repo's rev when the page was read; after a page without `cursor` the device is at it. */
export type ChangesPage = { rev: string; changes: Change[]; cursor?: string }

export type ChangesQuery = { since?: string; cursor?: string; collections?: readonly string[]; limit: number }

/**
 * Most record bytes (DAG-CBOR) in one page, as listRecords bounds its pages: past this a page
 * ends early with a cursor. A first record bigger than this comes alone.
 */
const CHANGES_PAGE_MAX_BYTES = 4 * 1024 * 1024

function formatCursor(p: FeedPosition): string {
  return `${p.rev}:${p.idx}`
}

export function parseCursor(cursor: string): FeedPosition {
  const m = /^([^:]+):(0|[1-9][0-9]{0,8})$/.exec(cursor)
  if (!m || !isValidTid(m[1])) throw new InvalidRequestError('Malformed cursor')
  return { rev: m[1]!, idx: Number(m[2]) }
}

function sinceTooOld(did: string): InvalidRequestError {
  return new InvalidRequestError(
    `The changes of ${did} no longer reach back that far: sync the whole repo (com.atproto.sync.getRepo) and continue from its rev`,
    'SinceTooOld',
  )
}

/**
 * app.carrel.sync.getChanges: a repo's record-level changes after a rev, oldest first. Each
 * record path appears once, with its latest op: a record created and updated after `since` is
 * one `create` with its current value; one created and deleted after `since` is one `delete`
 * (a device that saw the create on an earlier page must learn of the delete, and a delete of a
 * record a device never had is harmless). A write while a device pages moves the path past
 * the device's cursor, so nothing is skipped; the same path may come again, newer.
 */
export class ChangesFeed {
  constructor(
    private log: ChangeLog,
    private repo: RepoService,
  ) {}

  /** One page. Read in one synchronous step: no commit lands between the rows, the records and the rev. */
  page(did: string, q: ChangesQuery): ChangesPage {
    const page = this.pageIfReached(did, q)
    if (!page) throw sinceTooOld(did)
    return page
  }

  /** One page, or undefined when the log does not reach back to the query's start (SinceTooOld). */
  pageIfReached(did: string, q: ChangesQuery): ChangesPage | undefined {
    const root = this.repo.roots.get(did)
    if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
    const fromSince = q.since !== undefined ? { rev: q.since, idx: LAST_IDX } : undefined
    const fromCursor = q.cursor !== undefined ? parseCursor(q.cursor) : undefined
    // a cursor continues a listing; it never reaches back before `since`
    const after = fromCursor && (!fromSince || isBefore(fromSince, fromCursor)) ? fromCursor : fromSince

    const floor = this.log.floor(did)
    if (floor === undefined) {
      // the log has seen no commit of this repo since its rows were removed: it knows the repo
      // only as of its current rev, and only if the repo is empty does it know the whole of it
      const known = after ? !isBefore(after, { rev: root.rev, idx: LAST_IDX }) : this.repo.records.collections(did).length === 0
      return known ? { rev: root.rev, changes: [] } : undefined
    }
    if (after && isBefore(after, { rev: floor, idx: LAST_IDX })) return undefined

    const rows = this.log.page(did, after ?? { rev: '', idx: -1 }, q.limit + 1, q.collections)
    // through the shared block cache: recent changes are mostly blocks the write path just cached
    const storage = this.repo.storage(did)
    const changes: Change[] = []
    let bytes = 0
    for (const row of rows) {
      if (changes.length === q.limit) break
      const base = { rev: row.rev, collection: row.collection, rkey: row.rkey }
      if (row.cid === null) {
        changes.push({ ...base, action: 'delete' })
        continue
      }
      const block = storage.getBytesSync(row.cid)
      // the row is the path's latest op, so its record is the current one and is stored
      if (!block) throw new Error(`changes feed: record block missing for ${did}/${row.collection}/${row.rkey}`)
      if (changes.length > 0 && bytes + block.length > CHANGES_PAGE_MAX_BYTES) break
      bytes += block.length
      const action = !fromSince || row.created_rev > fromSince.rev ? 'create' : 'update'
      changes.push({ ...base, action, cid: row.cid, block })
    }
    // rows beyond the page (limit + 1 were read): the page ends at its last change
    const last = changes.length < rows.length ? rows[changes.length - 1] : undefined
    return { rev: root.rev, changes, cursor: last ? formatCursor(last) : undefined }
  }
}

/**
 * The page as getChanges answers it, `{rev, changes: [{rev, action, collection, rkey, cid?,
 * record?}], cursor?}`, as UTF-8 JSON; each record is written straight from its block.
 */
export function changesPageJson(page: ChangesPage): Buffer {
  const out = new JsonBytes()
  out.ascii('{"rev":')
  out.string(page.rev)
  out.ascii(',"changes":[')
  for (let i = 0; i < page.changes.length; i++) {
    const c = page.changes[i]!
    out.ascii(i === 0 ? '{"rev":' : ',{"rev":')
    out.string(c.rev)
    out.ascii(`,"action":"${c.action}","collection":`)
    out.string(c.collection)
    out.ascii(',"rkey":')
    out.string(c.rkey)
    if (c.block !== undefined) {
      out.ascii(',"cid":')
      out.string(c.cid!)
      out.ascii(',"record":')
      writeRecordJson(out, c.block)
    }
    out.ascii('}')
  }
  out.ascii(']')
  if (page.cursor !== undefined) {
    out.ascii(',"cursor":')
    out.string(page.cursor)
  }
  out.ascii('}')
  return out.toBuffer()
}
