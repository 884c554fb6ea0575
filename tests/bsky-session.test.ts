// A Bluesky client's session against Carrel, scripted with @atproto/api's Bluesky helpers: log
// in, post with an image, like, repost, follow, set a profile with an avatar, read and change
// preferences, read the timeline through the AppView stand-in (tests/_appview.ts, which verifies
// every service-auth token with xrpc-server's own verifier). Before the stand-in has indexed
// the account's latest writes, read-after-write (src/xrpc/proxy/read-after-write.ts) puts them
// into its answers, marked with Atproto-Upstream-Lag.
import { AtpAgent } from '@atproto/api'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAppView, type AppViewStandIn } from './_appview.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { png } from './_util.ts'

const APPVIEW_DID = 'did:web:appview.carrel.test'

let net: TestNetwork
let appView: AppViewStandIn

test.before(async () => {
  net = await startNetwork()
  appView = await startAppView({ did: APPVIEW_DID, plcUrl: net.plc.url })
  net.env.PDS_BSKY_APP_VIEW_URL = appView.url
  net.env.PDS_BSKY_APP_VIEW_DID = APPVIEW_DID
  await net.restart()
})

test.after(async () => {
  await net?.close()
  await appView?.close()
})

test('log in, post with an image, like, repost, follow, profile with avatar, preferences, timeline', async () => {
  const bob = await net.createAccount('bob')
  const bobPost = await bob.agent.post({ text: 'a post of bob' })
  const alice = await net.createAccount('alice')
  await appView.index(net.url, alice.did)
  await appView.index(net.url, bob.did)

  // a client that starts from the handle and password
  const agent = new AtpAgent({ service: net.url })
  await agent.login({ identifier: alice.handle, password: alice.password })
  assert.is(agent.session!.did, alice.did)

  const image = png(2048)
  const uploaded = await agent.uploadBlob(image, { encoding: 'image/png' })
  const post = await agent.post({
    text: 'hello with a picture',
    embed: { $type: 'app.bsky.embed.images', images: [{ image: uploaded.data.blob, alt: 'noise', aspectRatio: { width: 4, height: 3 } }] },
  })
  const like = await agent.like(bobPost.uri, bobPost.cid)
  const repost = await agent.repost(bobPost.uri, bobPost.cid)
  const follow = await agent.follow(bob.did)
  const avatar = await agent.uploadBlob(png(1024), { encoding: 'image/png' })
  await agent.upsertProfile((existing) => ({ ...existing, displayName: 'Alice of Carrel', description: 'reads books', avatar: avatar.data.blob }))

  // every write is in the repo
  for (const [collection, uri] of [
    ['app.bsky.feed.post', post.uri],
    ['app.bsky.feed.like', like.uri],
    ['app.bsky.feed.repost', repost.uri],
    ['app.bsky.graph.follow', follow.uri],
  ] as const) {
    const rkey = uri.split('/').pop()!
    const rec = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection, rkey })
    assert.is(rec.data.uri, uri)
  }
  const likeRecord = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.like', rkey: like.uri.split('/').pop()! })
  assert.equal((likeRecord.data.value as any).subject, { uri: bobPost.uri, cid: bobPost.cid })

  // preferences, as the app reads and changes them
  const before = await agent.getPreferences()
  assert.is(before.moderationPrefs.adultContentEnabled, false)
  await agent.setAdultContentEnabled(true)
  const after = await agent.getPreferences()
  assert.is(after.moderationPrefs.adultContentEnabled, true)

  // the timeline: the stand-in has not indexed the new post; read-after-write puts it in
  const calls = appView.calls.length
  const lagged = await agent.getTimeline({ limit: 10 })
  assert.ok(lagged.headers['atproto-upstream-lag'] !== undefined, 'marked as patched')
  const first = lagged.data.feed[0]!.post
  assert.is(first.uri, post.uri)
  assert.is(first.cid, post.cid)
  assert.is(first.author.did, alice.did)
  assert.is(first.author.displayName, 'Alice of Carrel')
  assert.is((first.record as any).text, 'hello with a picture')
  const embed = first.embed as any
  assert.is(embed.$type, 'app.bsky.embed.images#view')
  assert.is(embed.images[0].alt, 'noise')
  // the image link is this server's getBlob, and serves the bytes uploaded
  const thumb = new URL(embed.images[0].thumb)
  const blob = await fetch(`${net.url}${thumb.pathname}${thumb.search}`)
  assert.is(blob.status, 200)
  assert.ok(Buffer.from(await blob.arrayBuffer()).equals(Buffer.from(image)))

  // own profile: the new display name and avatar, before the AppView has them
  const profile = await agent.getProfile({ actor: alice.did })
  assert.is(profile.data.displayName, 'Alice of Carrel')
  assert.is(profile.data.description, 'reads books')
  assert.match(profile.data.avatar ?? '', /com\.atproto\.sync\.getBlob\?did=did%3Aplc%3A[a-z0-9]+&cid=/)
  assert.ok(profile.headers['atproto-upstream-lag'] !== undefined)

  // a thread of the new post that the AppView does not know yet
  const thread = await agent.getPostThread({ uri: post.uri })
  assert.is((thread.data.thread as any).post.uri, post.uri)

  // once indexed, the AppView's own answers come through untouched
  await appView.index(net.url, alice.did)
  const fresh = await agent.getTimeline({ limit: 10 })
  assert.is(fresh.headers['atproto-upstream-lag'], undefined)
  assert.is(fresh.data.feed[0]!.post.uri, post.uri)
  assert.is(fresh.data.feed[0]!.post.author.displayName, 'Alice of Carrel')

  // every call reached the stand-in with a token it verified, for the method called
  const seen = appView.calls.slice(calls)
  assert.equal(
    seen.map((c) => c.lxm),
    ['app.bsky.feed.getTimeline', 'app.bsky.actor.getProfile', 'app.bsky.feed.getPostThread', 'app.bsky.feed.getTimeline'],
  )
  assert.ok(seen.every((c) => c.iss === alice.did && c.aud === APPVIEW_DID))
  assert.equal(appView.refused, [])
})

test('read-after-write: a reply the AppView has not indexed appears under the post it answers; an older answer than the write is marked', async () => {
  const carol = await net.createAccount('carol')
  const root = await carol.agent.post({ text: 'root' })
  await appView.index(net.url, carol.did)
  const reply = await carol.agent.post({ text: 'my own reply', reply: { root, parent: root } })
  const thread = await carol.agent.getPostThread({ uri: root.uri })
  const replies = (thread.data.thread as any).replies as any[]
  assert.is(replies.length, 1)
  assert.is(replies[0].post.uri, reply.uri)
  assert.ok(thread.headers['atproto-upstream-lag'] !== undefined)
  // the AppView's answer about someone else is never patched
  const other = await carol.agent.getProfile({ actor: (await net.createAccount('dave')).did }).catch((e: any) => e)
  assert.is(other.error, 'InvalidRequest')
})

test('read-after-write after an up-to-date answer: the next post is put into the next answer, other writes are not', async () => {
  const erin = await net.createAccount('erin')
  await erin.agent.post({ text: 'indexed already' })
  await appView.index(net.url, erin.did)
  // this answer is up to date; the server now knows erin's latest post without a query
  const fresh = await erin.agent.getTimeline()
  assert.is(fresh.headers['atproto-upstream-lag'], undefined)
  // a write that is neither a post nor the profile: nothing to put in
  await erin.agent.like('at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kabcdefghij2', 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
  const afterLike = await erin.agent.getTimeline()
  assert.is(afterLike.headers['atproto-upstream-lag'], undefined)
  const post = await erin.agent.post({ text: 'written after the AppView looked' })
  const afterPost = await erin.agent.getTimeline()
  assert.ok(afterPost.headers['atproto-upstream-lag'] !== undefined, 'marked as lagging')
  assert.ok(afterPost.data.feed.some((item) => item.post.uri === post.uri), 'the new post is in it')
})

test("read-after-write for a new account: its first post shows up in the answer that follows it", async () => {
  const finn = await net.createAccount('finn')
  // the AppView has indexed the account as created: nothing newer to put in
  await appView.index(net.url, finn.did)
  const before = await finn.agent.getTimeline()
  assert.is(before.headers['atproto-upstream-lag'], undefined)
  const first = await finn.agent.post({ text: 'my very first post' })
  const after = await finn.agent.getTimeline()
  assert.ok(after.headers['atproto-upstream-lag'] !== undefined)
  assert.ok(after.data.feed.some((item) => item.post.uri === first.uri))
})

test.run()
