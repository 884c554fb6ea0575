// A Bluesky AppView stand-in on 127.0.0.1, built with @atproto/xrpc-server, for the proxy tests.
// Every request first goes through xrpc-server's own service-auth verifier (verifyJwt) against
// the issuer's DID document from the test's PLC directory, for the stand-in's DID (`aud`) and the
// method called (`lxm`); a request without a valid token is refused (401) and recorded. Then a
// test's `script` may answer it raw (slow, non-JSON, streamed), else the xrpc-server methods
// below answer from what the stand-in has "indexed" (`index()`: the account's posts and profile
// read from its PDS, and the rev they were read at, which every answer about that account
// carries as `atproto-repo-rev`, as the real AppView does).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { schemas } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import type { LexiconDoc } from '@atproto/lexicon'
import * as xrpcServer from '@atproto/xrpc-server'
import express from 'express'

export type VerifiedCall = {
  nsid: string
  iss: string
  aud: string
  lxm: string | undefined
  jti: string | undefined
  exp: number
  iat: number | undefined
  /** the path and query as received */
  url: string
  method: string
  headers: IncomingMessage['headers']
}

type Indexed = { rev: string; handle: string; profile: any | undefined; posts: { uri: string; cid: string; value: any; indexedAt: string }[] }

export type AppViewStandIn = {
  url: string
  /** the DIDs it answers as (a service-auth token must name one of them as `aud`) */
  dids: Set<string>
  /** every call whose token verified, in order */
  calls: VerifiedCall[]
  /** calls refused for their token (no token, bad signature, wrong aud or lxm...) */
  refused: { url: string; reason: string }[]
  /** TCP connections accepted */
  connections: number
  /** `did:web:localhost%3A<port>`: its document (served at /.well-known/did.json) names this stand-in as `#bsky_appview` */
  webDid: string
  /** requests for that document */
  didDocReads: number
  /** answers a verified call itself when it returns true (after the token check) */
  script: ((req: IncomingMessage, res: ServerResponse, call: VerifiedCall) => boolean) | null
  /** reads `did`'s posts and profile from its PDS, as an AppView's indexer would */
  index(pdsUrl: string, did: string): Promise<void>
  close(): Promise<void>
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
  return m?.[1]
}

export async function startAppView(opts: { did: string; plcUrl: string }): Promise<AppViewStandIn> {
  const idResolver = new IdResolver({ plcUrl: opts.plcUrl, fetch: globalThis.fetch })
  const indexed = new Map<string, Indexed>()
  const sockets = new Set<Socket>()

  const getSigningKey = (iss: string, forceRefresh: boolean) => idResolver.did.resolveAtprotoKey(iss, forceRefresh)
  const xrpc = xrpcServer.createServer(schemas as LexiconDoc[], { validateResponse: false })

  const author = (did: string, ix: Indexed) => ({
    did,
    handle: ix.handle,
    ...(ix.profile?.displayName !== undefined ? { displayName: ix.profile.displayName } : {}),
  })
  const postView = (did: string, ix: Indexed, p: Indexed['posts'][number]) => ({
    uri: p.uri,
    cid: p.cid,
    author: author(did, ix),
    record: p.value,
    replyCount: 0,
    repostCount: 0,
    likeCount: 0,
    quoteCount: 0,
    indexedAt: p.indexedAt,
    labels: [],
  })
  const revHeader = (did: string): Record<string, string> => {
    const ix = indexed.get(did)
    return ix ? { 'atproto-repo-rev': ix.rev } : {}
  }
  const caller = (req: IncomingMessage) => (req as IncomingMessage & { verified: VerifiedCall }).verified

  xrpc.method('app.bsky.feed.getTimeline', ({ req }: any) => {
    const did = caller(req).iss
    const ix = indexed.get(did)
    const feed = ix ? [...ix.posts].reverse().map((p) => ({ post: postView(did, ix, p) })) : []
    return { encoding: 'application/json', body: { feed }, headers: revHeader(did) }
  })
  xrpc.method('app.bsky.feed.getAuthorFeed', ({ req, params }: any) => {
    const did = caller(req).iss
    const ix = indexed.get(params.actor)
    const feed = ix ? [...ix.posts].reverse().map((p) => ({ post: postView(params.actor, ix, p) })) : []
    return { encoding: 'application/json', body: { feed }, headers: revHeader(did) }
  })
  xrpc.method('app.bsky.actor.getProfile', ({ req, params }: any) => {
    const did = caller(req).iss
    const ix = indexed.get(params.actor)
    if (!ix) throw new xrpcServer.InvalidRequestError('Profile not found')
    const body = {
      ...author(params.actor, ix),
      description: ix.profile?.description,
      followersCount: 0,
      followsCount: 0,
      postsCount: ix.posts.length,
    }
    return { encoding: 'application/json', body, headers: revHeader(did) }
  })
  xrpc.method('app.bsky.feed.getPostThread', ({ req, res, params }: any) => {
    const did = caller(req).iss
    const ownerDid = /^at:\/\/([^/]+)/.exec(params.uri)?.[1] ?? ''
    const ix = indexed.get(ownerDid)
    const post = ix?.posts.find((p) => p.uri === params.uri)
    if (!ix || !post) {
      // as the AppView answers: the error, with the requester's indexed rev
      for (const [name, value] of Object.entries(revHeader(did))) res.setHeader(name, value)
      throw new xrpcServer.InvalidRequestError(`Post not found: ${params.uri}`, 'NotFound')
    }
    const thread = { $type: 'app.bsky.feed.defs#threadViewPost', post: postView(ownerDid, ix, post), replies: [] }
    return { encoding: 'application/json', body: { thread }, headers: revHeader(did) }
  })

  const app = express()
  app.get('/.well-known/did.json', (_req, res) => {
    standIn.didDocReads++
    res.json({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: standIn.webDid,
      service: [{ id: '#bsky_appview', type: 'BskyAppView', serviceEndpoint: standIn.url }],
    })
  })
  // xrpc-server's verifier on every request, before anything else answers it
  app.use((req, res, next) => {
    const nsid = req.path.startsWith('/xrpc/') ? req.path.slice('/xrpc/'.length) : ''
    const token = bearer(req)
    const refuse = (reason: string) => {
      standIn.refused.push({ url: req.url, reason })
      res.status(401).json({ error: 'AuthenticationRequired', message: reason })
    }
    if (!token) return refuse('no service-auth token')
    const aud = (() => {
      try {
        return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).aud as string
      } catch {
        return ''
      }
    })()
    if (!standIn.dids.has(aud)) return refuse(`token for ${aud}, not for this service`)
    xrpcServer
      .verifyJwt(token, aud, nsid, getSigningKey as any)
      .then((payload: any) => {
        const call: VerifiedCall = {
          nsid,
          iss: payload.iss,
          aud: payload.aud,
          lxm: payload.lxm,
          jti: payload.jti,
          exp: payload.exp,
          iat: payload.iat,
          url: req.url,
          method: req.method,
          headers: req.headers,
        }
        standIn.calls.push(call)
        ;(req as any).verified = call
        if (standIn.script?.(req, res, call)) return
        next()
      })
      .catch((err: unknown) => refuse(err instanceof Error ? err.message : String(err)))
  })
  app.use(xrpc.router)

  const http: Server = createServer(app)
  http.on('connection', (s: Socket) => {
    standIn.connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const port = (http.address() as AddressInfo).port
  const standIn: AppViewStandIn = {
    url: `http://127.0.0.1:${port}`,
    webDid: `did:web:localhost%3A${port}`,
    didDocReads: 0,
    dids: new Set([opts.did]),
    calls: [],
    refused: [],
    connections: 0,
    script: null,
    async index(pdsUrl, did) {
      const get = async (nsid: string, params: Record<string, string>) => {
        const res = await fetch(`${pdsUrl}/xrpc/${nsid}?${new URLSearchParams(params)}`)
        return { status: res.status, body: (await res.json()) as any }
      }
      const commit = await get('com.atproto.sync.getLatestCommit', { did })
      const repo = await get('com.atproto.repo.describeRepo', { repo: did })
      const posts = await get('com.atproto.repo.listRecords', { repo: did, collection: 'app.bsky.feed.post', limit: '100', reverse: 'true' })
      const profile = await get('com.atproto.repo.getRecord', { repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' })
      indexed.set(did, {
        rev: commit.body.rev,
        handle: repo.body.handle,
        profile: profile.status === 200 ? profile.body.value : undefined,
        posts: posts.body.records.map((r: any) => ({ uri: r.uri, cid: r.cid, value: r.value, indexedAt: r.value.createdAt })),
      })
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
  return standIn
}
