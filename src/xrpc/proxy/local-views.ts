// Views of the account's own records, built here for read-after-write (read-after-write.ts):
// what an AppView would show for a post or profile it has not indexed yet. Counts are zero, as
// they are for anything just written. Images are linked through this server's getBlob.

import { isObject } from '../../indexer/record-index.js'
import { blobUrl } from '../../repo/blob-url.js'

type Json = Record<string, unknown>

/** A post or profile the account wrote after the AppView's rev. */
export type LocalRecord = { uri: string; cid: string; indexedAt: string; record: Json }

/** The account's records newer than the AppView's answer, oldest first. */
export type LocalRecords = { profile: LocalRecord | undefined; posts: LocalRecord[] }

export type Viewer = {
  did: string
  handle: string
  /** the account's current profile record, if it has one */
  profile: Json | undefined
  /** this server's public URL, for image links */
  publicUrl: string
}

function blobCid(blob: unknown): string | undefined {
  if (!isObject(blob)) return undefined
  const ref = blob.ref
  if (isObject(ref) && typeof ref.$link === 'string') return ref.$link
  // the legacy form: {cid, mimeType}
  return typeof blob.cid === 'string' ? blob.cid : undefined
}

function imageUrl(viewer: Viewer, blob: unknown): string | undefined {
  const cid = blobCid(blob)
  return cid ? blobUrl(viewer.publicUrl, viewer.did, cid) : undefined
}

/** displayName and avatar of a basic profile view, as the profile record says now. */
export function withBasicProfile(view: Json, record: Json, viewer: Viewer): Json {
  return { ...view, displayName: record.displayName, avatar: imageUrl(viewer, record.avatar) }
}

/** A detailed profile view with the fields the profile record holds. */
export function withDetailedProfile(view: Json, record: Json, viewer: Viewer): Json {
  return { ...withBasicProfile(view, record, viewer), description: record.description, banner: imageUrl(viewer, record.banner) }
}

function authorView(viewer: Viewer): Json {
  const base = { did: viewer.did, handle: viewer.handle }
  return viewer.profile ? withBasicProfile(base, viewer.profile, viewer) : base
}

/**
 * The view of a post's embed where it needs nothing but the record: images and external links.
 * Embedded records (quotes) and videos need the AppView's data; those posts show without it.
 */
function embedView(embed: unknown, viewer: Viewer): Json | undefined {
  if (!isObject(embed)) return undefined
  if (embed.$type === 'app.bsky.embed.images' && Array.isArray(embed.images)) {
    const images = embed.images.filter(isObject).map((img) => ({
      thumb: imageUrl(viewer, img.image),
      fullsize: imageUrl(viewer, img.image),
      alt: typeof img.alt === 'string' ? img.alt : '',
      aspectRatio: img.aspectRatio,
    }))
    if (images.some((img) => img.thumb === undefined)) return undefined
    return { $type: 'app.bsky.embed.images#view', images }
  }
  if (embed.$type === 'app.bsky.embed.external' && isObject(embed.external)) {
    const { uri, title, description, thumb } = embed.external
    return { $type: 'app.bsky.embed.external#view', external: { uri, title, description, thumb: imageUrl(viewer, thumb) } }
  }
  return undefined
}

export function postView(post: LocalRecord, viewer: Viewer): Json {
  return {
    uri: post.uri,
    cid: post.cid,
    author: authorView(viewer),
    record: post.record,
    embed: embedView(post.record.embed, viewer),
    replyCount: 0,
    repostCount: 0,
    likeCount: 0,
    quoteCount: 0,
    indexedAt: post.indexedAt,
    labels: [],
  }
}

function indexedAtOf(item: unknown): string | undefined {
  if (!isObject(item) || !isObject(item.post)) return undefined
  return typeof item.post.indexedAt === 'string' ? item.post.indexedAt : undefined
}

/**
 * A feed (newest first) with the account's posts that are newer than its last item put in
 * their places by time; posts older than the page's end belong to a later page.
 */
export function insertPosts(feed: unknown[], posts: LocalRecord[], viewer: Viewer): unknown[] {
  const out = [...feed]
  const end = indexedAtOf(out.at(-1)) ?? ''
  const known = new Set(out.map((item) => (isObject(item) && isObject(item.post) ? item.post.uri : undefined)))
  for (const post of posts) {
    if (post.indexedAt <= end || known.has(post.uri)) continue
    const at = out.findIndex((item) => (indexedAtOf(item) ?? '') < post.indexedAt)
    const item = { post: postView(post, viewer) }
    if (at === -1) out.push(item)
    else out.splice(at, 0, item)
  }
  return out
}

function replyParentUri(record: Json): string | undefined {
  const reply = record.reply
  return isObject(reply) && isObject(reply.parent) && typeof reply.parent.uri === 'string' ? reply.parent.uri : undefined
}

/** A thread view with the account's new replies added under the posts they answer, first. */
export function insertReplies(thread: unknown, posts: LocalRecord[], viewer: Viewer): unknown {
  if (!isObject(thread) || thread.$type !== 'app.bsky.feed.defs#threadViewPost' || !isObject(thread.post)) return thread
  const uri = thread.post.uri
  const mine = posts.filter((p) => replyParentUri(p.record) === uri)
  const existing = Array.isArray(thread.replies) ? thread.replies : undefined
  const known = new Set((existing ?? []).map((r) => (isObject(r) && isObject(r.post) ? r.post.uri : undefined)))
  const added = mine
    .filter((p) => !known.has(p.uri))
    .reverse()
    .map((p) => ({ $type: 'app.bsky.feed.defs#threadViewPost', post: postView(p, viewer), replies: [] }))
  const deeper = existing?.map((r) => insertReplies(r, posts, viewer))
  if (added.length === 0 && deeper === undefined) return thread
  return { ...thread, replies: [...added, ...(deeper ?? [])] }
}

/** A thread of one of the account's own posts that the AppView does not know yet. */
export function localThread(post: LocalRecord, others: LocalRecord[], viewer: Viewer): Json {
  return insertReplies({ $type: 'app.bsky.feed.defs#threadViewPost', post: postView(post, viewer), replies: [] }, others, viewer) as Json
}
