// An account with records and blobs moves from one Carrel server to another, both started here on
// one PLC directory, following the steps of `goat account migrate` / the atproto account
// migration guide, every call through @atproto/api: describeServer, getServiceAuth on the old
// server, createAccount with the DID on the new one, getRepo -> importRepo, listMissingBlobs ->
// getBlob -> uploadBlob, getRecommendedDidCredentials, requestPlcOperationSignature +
// signPlcOperation on the old server (the token from its outbox), submitPlcOperation on the new
// one, activateAccount on the new, deactivateAccount on the old. Then: the DID document names the
// new server, its repo equals the old one record for record, every blob is served by it, the old
// server serves the account no more, and the new server's firehose carries what a relay needs
// (and nothing before activation).
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { readCarWithRoot, verifyCommitSig, type Commit } from '@atproto/repo'
import { decode as cborDecode } from '@atproto/lex-cbor'
import { ADMIN_AUTH } from './_admin.ts'
import { RawSubscriber, StreamChecker, type Frame } from './_firehose.ts'
import { startPlc, type Plc } from './_harness.ts'
import { plcTokenFromOutbox, startServer, stopServer, type Server } from './_servers.ts'
import { expectXrpcError, plcData, png, rawXrpc } from './_util.ts'

const OLD_DID = 'did:web:old-pds.carrel.test'
const NEW_DID = 'did:web:new-pds.carrel.test'
const PASSWORD = 'correct horse battery staple'
const CREATE_ACCOUNT = 'com.atproto.server.createAccount'

let plc: Plc
let oldServer: Server
let newServer: Server

test.before(async () => {
  plc = await startPlc()
  oldServer = await startServer(plc, OLD_DID)
  // the new server wants invite codes: the one the admin gives the arriving account is used
  newServer = await startServer(plc, NEW_DID, { PDS_INVITE_REQUIRED: 'true' })
})

test.after(async () => {
  await stopServer(oldServer)
  await stopServer(newServer)
  await plc?.close()
})

type BlobRefJson = { $type: 'blob'; ref: { $link: string }; mimeType: string; size: number }

async function upload(agent: AtpAgent, bytes: Uint8Array, encoding: string): Promise<BlobRefJson> {
  const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding })
  const blob = res.data.blob as unknown as { ref: { toString(): string }; mimeType: string; size: number }
  return { $type: 'blob', ref: { $link: blob.ref.toString() }, mimeType: blob.mimeType, size: blob.size }
}

/** Posts (some edited, some deleted), a profile with an avatar, a post with an image, a record of an unknown collection with a file. */
async function seed(agent: AtpAgent, did: string): Promise<{ blobs: Map<string, Uint8Array> }> {
  const blobs = new Map<string, Uint8Array>()
  const keep = async (bytes: Uint8Array, encoding: string) => {
    const ref = await upload(agent, bytes, encoding)
    blobs.set(ref.ref.$link, bytes)
    return ref
  }
  const createdAt = () => new Date().toISOString()
  const uris: string[] = []
  for (let i = 0; i < 40; i++) {
    const res = await agent.com.atproto.repo.createRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: `post ${i} before the move`, createdAt: createdAt(), langs: ['en'] },
    })
    uris.push(res.data.uri)
  }
  for (const uri of uris.slice(0, 5)) await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: uri.split('/').pop()! })
  await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    rkey: uris[10]!.split('/').pop()!,
    record: { $type: 'app.bsky.feed.post', text: 'post 10, edited', createdAt: createdAt() },
  })
  await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'Alice', avatar: await keep(png(3000), 'image/png') },
  })
  await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    record: {
      $type: 'app.bsky.feed.post',
      text: 'a picture',
      createdAt: createdAt(),
      embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'noise', image: await keep(png(5000), 'image/png') }] },
    },
  })
  await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'com.example.migration.file',
    record: { $type: 'com.example.migration.file', file: await keep(new Uint8Array(randomBytes(70_000)), 'application/octet-stream') },
  })
  return { blobs }
}

/** Every record of a repo as `collection/rkey` -> CID, through the repo API. */
async function recordsOf(agent: AtpAgent, did: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const { data } = await agent.com.atproto.repo.describeRepo({ repo: did })
  for (const collection of data.collections) {
    let cursor: string | undefined
    do {
      const page = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      for (const r of page.data.records) out.set(`${collection}/${r.uri.split('/').pop()}`, r.cid)
      cursor = page.data.records.length === 100 ? page.data.cursor : undefined
    } while (cursor)
  }
  return out
}

async function commitOf(car: Uint8Array): Promise<Commit> {
  const { root, blocks } = await readCarWithRoot(car)
  return cborDecode(blocks.get(root)!) as unknown as Commit
}

test('an account moves from one server to another: DID, records, blobs, serving and firehose', async () => {
  // on the old server: an account with records and blobs
  const oldAgent = oldServer.agent()
  const created = await oldAgent.createAccount({ handle: 'alice.test', email: 'alice@mail.test', password: PASSWORD })
  const did = created.data.did
  const { blobs } = await seed(oldAgent, did)
  const before = await recordsOf(oldAgent, did)
  assert.is(before.size, 38)
  const oldCar = new Uint8Array((await oldAgent.com.atproto.sync.getRepo({ did })).data)
  const oldCommit = await commitOf(oldCar)

  // the new server's firehose, from its beginning
  const sub = await RawSubscriber.connect(newServer.url, 0)
  const newAgent = newServer.agent()
  try {
    // 1. the new server's DID
    const described = await newAgent.com.atproto.server.describeServer()
    assert.is(described.data.did, NEW_DID)

    // 2. a service-auth token from the old server, for the new one's createAccount
    const exp = Math.floor(Date.now() / 1000) + 60
    const { data: auth } = await oldAgent.com.atproto.server.getServiceAuth({ aud: described.data.did, lxm: CREATE_ACCOUNT, exp })

    // 3. the account on the new server, with its DID: deactivated, announcing nothing
    const invite = await rawXrpc(newServer.url, 'com.atproto.server.createInviteCode', {
      body: { useCount: 1 },
      authorization: ADMIN_AUTH,
    })
    assert.is(invite.status, 200)
    const seqBefore = newServer.pds.ctx.sequencer.currentSeq()
    await newAgent.createAccount(
      { did, handle: 'alice.test', email: 'alice@mail.test', password: PASSWORD, inviteCode: invite.body.code },
      { headers: { authorization: `Bearer ${auth.token}` } },
    )
    assert.is(newAgent.session?.did, did)
    let status = (await newAgent.com.atproto.server.checkAccountStatus()).data
    assert.is(status.activated, false)
    assert.is(status.validDid, false, 'the DID document still names the old server')
    assert.is(status.indexedRecords, 0)
    // the DID was not touched: still the old server's document
    assert.is((await plcData(plc.url, did)).services.atproto_pds.endpoint, oldServer.url)

    // 4. the repo
    const car = (await oldAgent.com.atproto.sync.getRepo({ did })).data
    await newAgent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' })
    status = (await newAgent.com.atproto.server.checkAccountStatus()).data
    assert.is(status.indexedRecords, before.size)
    assert.is(status.expectedBlobs, blobs.size)
    assert.is(status.importedBlobs, 0)

    // 5. the blobs
    let cursor: string | undefined
    const missing: string[] = []
    do {
      const page = await newAgent.com.atproto.repo.listMissingBlobs({ limit: 2, cursor })
      missing.push(...page.data.blobs.map((b) => b.cid))
      cursor = page.data.cursor
    } while (cursor)
    assert.equal(missing.sort(), [...blobs.keys()].sort())
    for (const cid of missing) {
      const blob = await oldAgent.com.atproto.sync.getBlob({ did, cid })
      await newAgent.com.atproto.repo.uploadBlob(blob.data, { encoding: blob.headers['content-type'] })
    }
    assert.equal((await newAgent.com.atproto.repo.listMissingBlobs()).data.blobs, [])
    status = (await newAgent.com.atproto.server.checkAccountStatus()).data
    assert.is(status.importedBlobs, blobs.size)

    // nothing of the account on the new server's firehose so far
    assert.is(newServer.pds.ctx.sequencer.currentSeq(), seqBefore, 'no event while the account arrives')

    // 6. the DID document: what the new server recommends, signed by the old one with the outbox token
    const creds = (await newAgent.com.atproto.identity.getRecommendedDidCredentials()).data
    await oldAgent.com.atproto.identity.requestPlcOperationSignature()
    const token = plcTokenFromOutbox(oldServer, did)
    const signed = await oldAgent.com.atproto.identity.signPlcOperation({ token, ...creds })
    await newAgent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })
    assert.is(newServer.pds.ctx.sequencer.currentSeq(), seqBefore, 'no event while deactivated')

    // 7. activation here, deactivation there
    await newAgent.com.atproto.server.activateAccount()
    await oldAgent.com.atproto.server.deactivateAccount({})

    // the DID document names the new server and its signing key
    const data = await plcData(plc.url, did)
    assert.is(data.services.atproto_pds.endpoint, newServer.url)
    assert.equal(data.verificationMethods, creds.verificationMethods)
    assert.equal(data.alsoKnownAs, ['at://alice.test'])
    status = (await newAgent.com.atproto.server.checkAccountStatus()).data
    assert.is(status.activated, true)
    assert.is(status.validDid, true)

    // the new server's repo equals the old one, record for record, and holds the same tree
    const after = await recordsOf(newAgent, did)
    assert.equal([...after.entries()].sort(), [...before.entries()].sort())
    for (const path of [...before.keys()].slice(0, 5)) {
      const [collection, rkey] = path.split('/')
      const oldValue = await rawXrpc(oldServer.url, 'com.atproto.repo.getRecord', { params: { repo: did, collection: collection!, rkey: rkey! } })
      assert.is(oldValue.body.error, 'RepoDeactivated')
      const newValue = await newAgent.com.atproto.repo.getRecord({ repo: did, collection: collection!, rkey: rkey! })
      assert.is(newValue.data.cid, before.get(path))
    }
    const newCar = new Uint8Array((await newAgent.com.atproto.sync.getRepo({ did })).data)
    const newCommit = await commitOf(newCar)
    assert.is(newCommit.data.toString(), oldCommit.data.toString(), 'the same MST root')
    assert.ok(newCommit.rev > oldCommit.rev, 'the rev goes on from the old one')
    assert.ok(await verifyCommitSig(newCommit, data.verificationMethods.atproto), "signed with the key the DID document names")

    // every blob is served by the new server
    for (const [cid, bytes] of blobs) {
      const res = await fetch(`${newServer.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)
      assert.is(res.status, 200)
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes)), `blob ${cid}`)
    }
    const listed = (await newAgent.com.atproto.sync.listBlobs({ did })).data.cids
    assert.equal(listed.sort(), [...blobs.keys()].sort())

    // the old server no longer serves the account
    for (const [nsid, params] of [
      ['com.atproto.sync.getRepo', { did }],
      ['com.atproto.sync.getLatestCommit', { did }],
      ['com.atproto.sync.getBlob', { did, cid: [...blobs.keys()][0]! }],
      ['com.atproto.repo.listRecords', { repo: did, collection: 'app.bsky.feed.post' }],
    ] as const) {
      const res = await rawXrpc(oldServer.url, nsid, { params: params as Record<string, string> })
      assert.is(res.status, 400, nsid)
      assert.is(res.body.error, 'RepoDeactivated', nsid)
    }

    // a write on the new server follows on from the imported state
    const post = await newAgent.com.atproto.repo.createRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'hello from the new server', createdAt: new Date().toISOString() },
    })

    // the new server's firehose: for the account, #identity, #account active and #sync of the
    // imported tree, then the new post's #commit; each checked as a strict relay would
    await sub.waitFor((fs) => fs.some((f) => f.header.t === '#commit' && f.body.repo === did), 10_000, 'the new post')
    const checker = new StreamChecker(plc.url)
    for (const f of sub.events()) await checker.check(f)
    const mine = sub.events().filter((f: Frame) => (f.body.did ?? f.body.repo) === did)
    assert.equal(
      mine.map((f) => f.header.t),
      ['#identity', '#account', '#sync', '#commit'],
    )
    const [identity, account, sync, commit] = mine as [Frame, Frame, Frame, Frame]
    assert.is(identity.body.handle, 'alice.test')
    assert.is(account.body.active, true)
    const syncCommit = await commitOf(sync.body.blocks)
    assert.is(syncCommit.data.toString(), oldCommit.data.toString())
    assert.is(sync.body.rev, newCommit.rev)
    assert.is(commit.body.since, sync.body.rev)
    assert.is(commit.body.prevData.toString(), oldCommit.data.toString())
    assert.is(commit.body.ops[0].path, `app.bsky.feed.post/${post.data.uri.split('/').pop()}`)
  } finally {
    await sub.close()
  }
})

test('after the move: the handle resolves on the new server, the old account can still log in to reactivate', async () => {
  const did = (await newServer.agent().com.atproto.identity.resolveHandle({ handle: 'alice.test' })).data.did
  const agent = oldServer.agent()
  await agent.login({ identifier: did, password: PASSWORD })
  // activation on the old server is refused: the DID document names the new one
  await expectXrpcError(() => agent.com.atproto.server.activateAccount(), 400, 'InvalidRequest')
})

test.run()
