import type { ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib'
import { TID } from '@atproto/common'
import { isValidTid } from '@atproto/syntax'
import { UpstreamFailureError } from '@atproto/xrpc-server'
import type { AppContext } from '../../context.js'
import type { OutboundStreamResponse } from '../../identity/safe-fetch.js'
import { isObject } from '../../indexer/record-index.js'
import { recordJsonValue } from '../../repo/record-json-text.js'
import { passedHeaders, pipeBody } from './forward.js'
import {
  insertPosts,
  insertReplies,
  localThread,
  withBasicProfile,
  withDetailedProfile,
  type LocalRecord,
  type LocalRecords,
  type Viewer,
} from './local-views.js'

type Json = Record<string, unknown>

const POST = 'app.bsky.feed.post'
const PROFILE = 'app.bsky.actor.profile'
/** local writes looked at, at most, as the reference reads them */
const MAX_LOCAL_RECORDS = 10
/** an answer larger than this (decoded) is passed on unpatched */
const MAX_PATCHED_BYTES = 4 * 1024 * 1024

/** How each method's answer is patched with the account's newer writes (a copy, or the same object). */
const PATCHES: Record<string, (body: Json, local: LocalRecords, viewer: Viewer) => Json> = {
  'app.bsky.actor.getProfile': (body, local, viewer) =>
    local.profile && body.did === viewer.did ? withDetailedProfile(body, local.profile.record, viewer) : body,
  'app.bsky.actor.getProfiles': (body, local, viewer) => {
    if (!local.profile || !Array.isArray(body.profiles)) return body
    const record = local.profile.record
    return { ...body, profiles: body.profiles.map((p: Json) => (p?.did === viewer.did ? withDetailedProfile(p, record, viewer) : p)) }
  },
  'app.bsky.feed.getTimeline': (body, local, viewer) =>
    Array.isArray(body.feed) ? { ...body, feed: insertPosts(body.feed, local.posts, viewer) } : body,
  'app.bsky.feed.getAuthorFeed': (body, local, viewer) => {
    if (!Array.isArray(body.feed) || !isOwnFeed(body.feed, viewer.did)) return body
    let feed: unknown[] = body.feed
    if (local.profile) {
      const record = local.profile.record
      feed = feed.map((item: any) =>
        item?.post?.author?.did === viewer.did ? { ...item, post: { ...item.post, author: withBasicProfile(item.post.author, record, viewer) } } : item,
      )
    }
    return { ...body, feed: insertPosts(feed, local.posts, viewer) }
  },
  'app.bsky.feed.getPostThread': (body, local, viewer) =>
    local.posts.length > 0 ? { ...body, thread: insertReplies(body.thread, local.posts, viewer) } : body,
}

/** The feed is the account's own: its first item is its post or its repost. */
function isOwnFeed(feed: any[], did: string): boolean {
  const first = feed[0]
  if (!first) return false
  if (first.reason?.$type === 'app.bsky.feed.defs#reasonRepost') return first.reason.by?.did === did
  return !first.reason && first.post?.author?.did === did
}

/**
 * Read-after-write, as the reference PDS does it: an AppView answers with the rev of the
 * requester's repo it has indexed (`atproto-repo-rev`); when the account has written since, its
 * newer profile and posts are put into the answer (own profile in getProfile(s) and its
 * posts' authors, own new posts in getTimeline and its own getAuthorFeed, own new replies in
 * getPostThread, and a thread of an own post the AppView does not know yet), which then
 * carries `Atproto-Upstream-Lag` (ms since the oldest write it misses). Only then is the answer
 * read whole (at most 4 MiB, else it is passed on as it is); an AppView that is up to date, and
 * every other method, streams through untouched.
 */
export class ReadAfterWrite {
  /** whether the change log holds a post or profile of the account after a rev (from memory) */
  private ownWrites

  constructor(private ctx: AppContext) {
    this.ownWrites = ctx.sync.watchLatest([POST, PROFILE])
  }

  applies(nsid: string): boolean {
    return Object.hasOwn(PATCHES, nsid)
  }

  /** Answers with the patched answer and returns true, or returns false (nothing consumed). */
  async answer(nsid: string, did: string, answer: OutboundStreamResponse, res: ServerResponse): Promise<boolean> {
    const local = this.localSince(did, answer)
    if (!local) return false
    const read = await readUpTo(answer.body, MAX_PATCHED_BYTES)
    const body = read.complete ? parseJson(read.bytes, answer.headers['content-encoding']) : undefined
    if (!body) {
      // too large or not JSON after all: passed on as it came
      await passOn(answer, read.bytes, res)
      return true
    }
    const patched = PATCHES[nsid]!(body, local, this.viewer(did))
    if (patched === body) {
      res.writeHead(answer.status, passedHeaders(answer.headers))
      res.end(read.bytes)
    } else {
      this.sendPatched(res, patched, answer, local)
    }
    return true
  }

  /**
   * getPostThread of the account's own post that the AppView does not know yet (its NotFound
   * error): the thread of the local post instead. Returns false when that does not apply.
   */
  async answerNotFound(nsid: string, did: string, uri: unknown, answer: OutboundStreamResponse, res: ServerResponse): Promise<boolean> {
    if (nsid !== 'app.bsky.feed.getPostThread' || answer.status !== 400 || typeof uri !== 'string') return false
    const local = this.localSince(did, answer)
    if (!local) return false
    const post = local.posts.find((p) => p.uri === this.withDid(uri, did))
    if (!post) return false
    const read = await readUpTo(answer.body, 64 * 1024)
    const error = read.complete ? parseJson(read.bytes, answer.headers['content-encoding']) : undefined
    if (error?.error !== 'NotFound') {
      await passOn(answer, read.bytes, res)
      return true
    }
    const others = local.posts.filter((p) => p !== post)
    this.sendPatched(res, { thread: localThread(post, others, this.viewer(did)) }, { ...answer, status: 200 }, local)
    return true
  }

  /** An at:// URI naming the account by handle, with its DID instead. */
  private withDid(uri: string, did: string): string {
    const m = /^at:\/\/([^/]+)(\/.*)?$/.exec(uri)
    if (!m || m[1] === did) return uri
    return this.ctx.accounts.resolveRepo(m[1]!)?.did === did ? `at://${did}${m[2] ?? ''}` : uri
  }

  private sendPatched(res: ServerResponse, body: Json, answer: OutboundStreamResponse, local: LocalRecords): void {
    const headers = passedHeaders(answer.headers)
    delete headers['content-encoding']
    delete headers['content-length']
    const text = Buffer.from(JSON.stringify(body))
    res.writeHead(answer.status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': text.length,
      'atproto-upstream-lag': String(lagMs(local)),
    })
    res.end(text)
  }

  /**
   * The account's posts and profile written after the answer's rev, or undefined when there
   * are none (or the answer names no rev, or the log does not reach back to it: an account that
   * moved here, whose AppView knows revs from before).
   */
  private localSince(did: string, answer: OutboundStreamResponse): LocalRecords | undefined {
    const rev = answer.headers['atproto-repo-rev']
    if (typeof rev !== 'string' || !isValidTid(rev)) return undefined
    if (!this.ownWrites.hasChangesAfter(did, rev)) return undefined
    const root = this.ctx.repo.roots.get(did)
    if (!root || root.rev <= rev) return undefined
    const page = this.ctx.sync.changes.pageIfReached(did, { since: rev, collections: [POST, PROFILE], limit: MAX_LOCAL_RECORDS })
    if (!page) return undefined
    const local: LocalRecords = { profile: undefined, posts: [] }
    for (const change of page.changes) {
      if (!change.block || !change.cid) continue
      const record: LocalRecord = {
        uri: `at://${did}/${change.collection}/${change.rkey}`,
        cid: change.cid,
        indexedAt: new Date(TID.fromStr(change.rev).timestamp() / 1000).toISOString(),
        record: recordJsonValue(change.block) as Json,
      }
      if (change.collection === POST) local.posts.push(record)
      else if (change.rkey === 'self') local.profile = record
    }
    return local.profile || local.posts.length > 0 ? local : undefined
  }

  private viewer(did: string): Viewer {
    const stored = this.ctx.repo.getRecordBytes(did, PROFILE, 'self')
    return {
      did,
      handle: this.ctx.accounts.getByDid(did)?.handle ?? 'handle.invalid',
      profile: stored ? (recordJsonValue(stored.bytes) as Json) : undefined,
      publicUrl: this.ctx.cfg.publicUrl,
    }
  }
}

/** The answer as it came: the bytes already read from its body, then the rest as it arrives. */
async function passOn(answer: OutboundStreamResponse, read: Buffer, res: ServerResponse): Promise<void> {
  res.writeHead(answer.status, passedHeaders(answer.headers))
  res.write(read)
  await pipeBody(answer.body, res)
}

/** ms since the oldest write the AppView's answer misses */
function lagMs(local: LocalRecords): number {
  const times = [local.profile, ...local.posts].filter((r) => r !== undefined).map((r) => Date.parse(r.indexedAt))
  return Math.max(0, Date.now() - Math.min(...times))
}

/** Reads the body up to `max` bytes; past that it is left paused, the rest unread. */
function readUpTo(body: Readable, max: number): Promise<{ bytes: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (complete: boolean) => {
      body.off('data', onData).off('end', onEnd).off('error', onError)
      resolve({ bytes: Buffer.concat(chunks), complete })
    }
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size > max) {
        body.pause()
        done(false)
      }
    }
    const onEnd = () => done(true)
    const onError = () => {
      body.off('data', onData).off('end', onEnd).off('error', onError)
      reject(new UpstreamFailureError('Upstream answer was cut off'))
    }
    body.on('data', onData).on('end', onEnd).on('error', onError)
  })
}

function parseJson(bytes: Buffer, encoding: string | string[] | undefined): Json | undefined {
  try {
    const opts = { maxOutputLength: MAX_PATCHED_BYTES }
    const decoded =
      encoding === undefined || encoding === 'identity'
        ? bytes
        : encoding === 'gzip' || encoding === 'x-gzip'
          ? gunzipSync(bytes, opts)
          : encoding === 'deflate'
            ? inflateSync(bytes, opts)
            : encoding === 'br'
              ? brotliDecompressSync(bytes, opts)
              : undefined
    if (!decoded) return undefined
    const value: unknown = JSON.parse(decoded.toString('utf8'))
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}
