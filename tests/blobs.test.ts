// Blobs: uploads streamed to disk and content-addressed, sniffed types, size limit, the
// temp -> permanent lifecycle driven by commits, garbage collection and the start-up sweep.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startNetwork, type TestNetwork } from './_harness.ts'

type Blob = { $type: 'blob'; ref: { toString(): string }; mimeType: string; size: number }

let net: TestNetwork
let alice: { agent: AtpAgent; did: string }

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const LIMIT = 5 * 1024 * 1024

function pngBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(randomBytes(size))
  bytes.set(PNG_MAGIC, 0)
  return bytes
}

/** every file under the blobstore directory (temporary uploads included) */
function blobFiles(): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    if (!existsSync(dir)) return
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.push(p)
    }
  }
  walk(net.pds.cfg.blobstoreLocation)
  return out
}

function blobRows(did?: string): { cid: string; status: string }[] {
  const db = net.pds.ctx.db.sqlite
  return did
    ? db.prepare<[string], { cid: string; status: string }>('SELECT cid, status FROM blob WHERE did = ?').all(did)
    : db.prepare<[], { cid: string; status: string }>('SELECT cid, status FROM blob').all()
}

async function upload(agent: AtpAgent, bytes: Uint8Array, encoding: string): Promise<Blob> {
  const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding })
  return res.data.blob as unknown as Blob
}

function blobJson(b: Blob) {
  return { $type: 'blob', ref: { $link: b.ref.toString() }, mimeType: b.mimeType, size: b.size }
}

async function cover(agent: AtpAgent, did: string, blob: unknown, rkey?: string) {
  return agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'com.example.blobs.cover',
    ...(rkey ? { rkey } : {}),
    record: { title: 'a cover', cover: blob, createdAt: new Date().toISOString() },
  })
}

const BOOK = 'app.carrel.library.book'

/** A Library Manager book whose cover is `blob`, validated against our lexicon. */
async function book(agent: AtpAgent, did: string, blob: unknown) {
  const res = await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: BOOK,
    record: { title: 'a book', cover: blob, createdAt: new Date().toISOString() },
  })
  assert.is(res.data.validationStatus, 'valid')
  return res
}

function getBlob(did: string, cid: string): Promise<Response> {
  return fetch(`${net.url}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(did)}&cid=${cid}`)
}

async function xrpcError(p: Promise<unknown>): Promise<{ error?: string; status?: number; message?: string }> {
  try {
    await p
  } catch (err) {
    return err as { error?: string; status?: number; message?: string }
  }
  assert.unreachable('expected an XRPC error')
  return {}
}

/** a body the client streams without a Content-Length (chunked) */
function chunkedBody(total: number, chunk = 256 * 1024): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close()
      const n = Math.min(chunk, total - sent)
      const bytes = new Uint8Array(n).fill(0x41)
      if (sent === 0) bytes.set(PNG_MAGIC, 0)
      sent += n
      controller.enqueue(bytes)
    },
  })
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount()
})

test.after(async () => {
  await net?.close()
})

test('a 5 MB cover round-trips byte for byte once a record references it', async () => {
  const bytes = pngBytes(LIMIT)
  const blob = await upload(alice.agent, bytes, 'image/png')
  assert.is(blob.mimeType, 'image/png')
  assert.is(blob.size, LIMIT)
  const cid = blob.ref.toString()
  assert.ok(cid.startsWith('bafkrei'), 'raw codec, sha-256 CID')

  // temporary: neither served nor listed
  const before = await getBlob(alice.did, cid)
  assert.is(before.status, 400)
  assert.is(((await before.json()) as { error: string }).error, 'BlobNotFound')
  const listedBefore = await alice.agent.com.atproto.sync.listBlobs({ did: alice.did })
  assert.not.ok(listedBefore.data.cids.includes(cid))

  await book(alice.agent, alice.did, blobJson(blob))
  const res = await getBlob(alice.did, cid)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'image/png')
  assert.is(res.headers.get('content-length'), String(LIMIT))
  assert.is(res.headers.get('x-content-type-options'), 'nosniff')
  assert.is(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
  const got = new Uint8Array(await res.arrayBuffer())
  assert.is(got.length, bytes.length)
  assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), 'exact bytes')

  const listed = await alice.agent.com.atproto.sync.listBlobs({ did: alice.did })
  assert.ok(listed.data.cids.includes(cid))
  assert.equal(blobRows(alice.did).find((r) => r.cid === cid)?.status, 'permanent')
})

test('a 6 MB upload is refused with 413 BlobTooLarge and leaves nothing behind', async () => {
  const filesBefore = blobFiles().sort()
  const rowsBefore = blobRows().length
  const token = alice.agent.session!.accessJwt

  // chunked: no Content-Length, the limit is enforced while streaming
  const res = await fetch(`${net.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', authorization: `Bearer ${token}` },
    body: chunkedBody(6 * 1024 * 1024),
    duplex: 'half',
  } as RequestInit)
  assert.is(res.status, 413)
  assert.is(((await res.json()) as { error: string }).error, 'BlobTooLarge')

  // declared length: refused before reading the body
  const declared = await alice.agent.com.atproto.repo
    .uploadBlob(pngBytes(6 * 1024 * 1024), { encoding: 'image/png' })
    .catch((err) => err as { status: number; error: string })
  assert.is((declared as { status: number }).status, 413)
  assert.is((declared as { error: string }).error, 'BlobTooLarge')

  // one byte over the limit, chunked
  const over = await fetch(`${net.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', authorization: `Bearer ${token}` },
    body: chunkedBody(LIMIT + 1),
    duplex: 'half',
  } as RequestInit)
  assert.is(over.status, 413)
  await over.body?.cancel()

  await new Promise((r) => setTimeout(r, 50))
  assert.equal(blobFiles().sort(), filesBefore, 'no file left in the blobstore')
  assert.is(blobRows().length, rowsBefore, 'no row')
})

test('a fake .png that is really HTML is stored as text/html and served sandboxed', async () => {
  const html = new TextEncoder().encode('\n  <!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>')
  const blob = await upload(alice.agent, html, 'image/png')
  assert.is(blob.mimeType, 'text/html')
  await cover(alice.agent, alice.did, blobJson(blob))
  const res = await getBlob(alice.did, blob.ref.toString())
  assert.is(res.status, 200)
  assert.ok(res.headers.get('content-type')!.startsWith('text/html'))
  assert.is(res.headers.get('x-content-type-options'), 'nosniff')
  assert.is(res.headers.get('content-security-policy'), "default-src 'none'; sandbox")
  assert.equal(new Uint8Array(await res.arrayBuffer()), html)

  // and a real JPEG declared as text/html is a JPEG
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 1, 2, 3])
  assert.is((await upload(alice.agent, jpeg, 'text/html')).mimeType, 'image/jpeg')
  // bytes that say nothing keep the declared type
  assert.is((await upload(alice.agent, new Uint8Array([1, 2, 3, 4, 5]), 'application/x-custom')).mimeType, 'application/x-custom')
})

test('a record referencing a blob never uploaded (or misdescribed) is refused and nothing changes', async () => {
  const head = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  const ghost = {
    $type: 'blob',
    ref: { $link: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' },
    mimeType: 'image/png',
    size: 1234,
  }
  const err = await xrpcError(cover(alice.agent, alice.did, ghost, 'ghost'))
  assert.is(err.status, 400)
  assert.is(err.error, 'BlobNotFound')
  assert.match(err.message ?? '', /upload/)

  // someone else's upload is not ours to reference
  const bob = await net.createAccount()
  const bobs = await upload(bob.agent, pngBytes(1000), 'image/png')
  assert.is((await xrpcError(cover(alice.agent, alice.did, blobJson(bobs), 'ghost'))).error, 'BlobNotFound')

  // our upload, but described with another type or size
  const mine = await upload(alice.agent, pngBytes(2000), 'image/png')
  const wrongType = await xrpcError(cover(alice.agent, alice.did, { ...blobJson(mine), mimeType: 'image/jpeg' }, 'ghost'))
  assert.is(wrongType.status, 400)
  assert.match(wrongType.message ?? '', /mimeType/)
  const wrongSize = await xrpcError(cover(alice.agent, alice.did, { ...blobJson(mine), size: 1999 }, 'ghost'))
  assert.is(wrongSize.status, 400)
  assert.match(wrongSize.message ?? '', /size/)

  const after = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  assert.equal(after.data, head.data, 'no commit happened')
  const rec = await xrpcError(alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'com.example.blobs.cover', rkey: 'ghost' }))
  assert.ok(rec.error === 'RecordNotFound' || rec.status === 400 || rec.status === 404)
  assert.is(blobRows(alice.did).find((r) => r.cid === mine.ref.toString())?.status, 'temp', 'still temporary')
})

test("the lexicon's accept and maxSize are enforced for the field", async () => {
  // app.bsky.actor.profile#avatar accepts image/png and image/jpeg up to 1,000,000 bytes
  const html = await upload(alice.agent, new TextEncoder().encode('<html><p>x</p></html>'), 'image/png')
  const bad = await xrpcError(
    alice.agent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', avatar: blobJson(html) },
    }),
  )
  assert.is(bad.status, 400)
  assert.match(bad.message ?? '', /accepted types/)

  const big = await upload(alice.agent, pngBytes(1_000_001), 'image/png')
  const tooBig = await xrpcError(
    alice.agent.com.atproto.repo.putRecord({
      repo: alice.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', avatar: blobJson(big) },
    }),
  )
  assert.is(tooBig.status, 400)
  assert.match(tooBig.message ?? '', /limit/)

  const ok = await upload(alice.agent, pngBytes(1_000_000), 'image/png')
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', avatar: blobJson(ok) },
  })
  assert.is((await getBlob(alice.did, ok.ref.toString())).status, 200)
})

test('deleting the last record that references a cover removes the blob', async () => {
  const blob = await upload(alice.agent, pngBytes(4096), 'image/png')
  const cid = blob.ref.toString()
  const one = await book(alice.agent, alice.did, blobJson(blob))
  const two = await book(alice.agent, alice.did, blobJson(blob))
  const file = blobFiles().find((f) => f.endsWith(cid))
  assert.ok(file, 'stored under its CID')

  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: BOOK, rkey: one.data.uri.split('/').pop()! })
  assert.is((await getBlob(alice.did, cid)).status, 200, 'still referenced by the second record')

  // an update that swaps the cover releases the old one too
  const other = await upload(alice.agent, pngBytes(5000), 'image/png')
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey: two.data.uri.split('/').pop()!,
    record: { title: 'new cover', cover: blobJson(other), createdAt: new Date().toISOString() },
  })
  const res = await getBlob(alice.did, cid)
  assert.is(res.status, 400)
  assert.is(((await res.json()) as { error: string }).error, 'BlobNotFound')
  await new Promise((r) => setTimeout(r, 50))
  assert.not.ok(existsSync(file!), 'file deleted')
  assert.not.ok(blobRows(alice.did).some((r) => r.cid === cid), 'row deleted')
  assert.not.ok((await alice.agent.com.atproto.sync.listBlobs({ did: alice.did })).data.cids.includes(cid))

  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: BOOK, rkey: two.data.uri.split('/').pop()! })
  await new Promise((r) => setTimeout(r, 50))
  assert.is((await getBlob(alice.did, other.ref.toString())).status, 400)
  assert.not.ok(blobFiles().some((f) => f.endsWith(other.ref.toString())))
})

test('listBlobs pages and filters by since; listMissingBlobs needs auth and finds nothing missing', async () => {
  const head = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  const fresh: string[] = []
  for (let i = 0; i < 3; i++) {
    const b = await upload(alice.agent, pngBytes(100 + i), 'image/png')
    await cover(alice.agent, alice.did, blobJson(b))
    fresh.push(b.ref.toString())
  }
  const since = await alice.agent.com.atproto.sync.listBlobs({ did: alice.did, since: head.data.rev })
  assert.equal([...since.data.cids].sort(), [...fresh].sort())

  const all: string[] = []
  let cursor: string | undefined
  do {
    const page = await alice.agent.com.atproto.sync.listBlobs({ did: alice.did, limit: 2, cursor })
    assert.ok(page.data.cids.length <= 2)
    all.push(...page.data.cids)
    cursor = page.data.cursor
  } while (cursor)
  for (const c of fresh) assert.ok(all.includes(c))
  assert.equal(all, [...all].sort())

  const missing = await alice.agent.com.atproto.repo.listMissingBlobs({})
  assert.equal(missing.data.blobs, [])
  const anon = await fetch(`${net.url}/xrpc/com.atproto.repo.listMissingBlobs`)
  assert.is(anon.status, 401)
})

test('a crash between upload and commit leaves no permanent orphan (start-up sweep)', async () => {
  const kept = await upload(alice.agent, pngBytes(3000), 'image/png')
  await cover(alice.agent, alice.did, blobJson(kept))
  const orphan = await upload(alice.agent, pngBytes(3001), 'image/png')
  const orphanCid = orphan.ref.toString()
  assert.ok(blobFiles().some((f) => f.endsWith(orphanCid)), 'stored while temporary')

  net.env.PDS_BLOB_TEMP_GRACE_MS = '1'
  await new Promise((r) => setTimeout(r, 20))
  await net.restart()
  try {
    assert.not.ok(blobFiles().some((f) => f.endsWith(orphanCid)), 'orphan file swept at start-up')
    assert.not.ok(blobRows(alice.did).some((r) => r.cid === orphanCid), 'orphan row swept')
    // same JWT secret across the restart: the session still works
    assert.is((await xrpcError(cover(alice.agent, alice.did, blobJson(orphan)))).error, 'BlobNotFound')
    // a referenced blob survives the restart and the sweep
    const res = await getBlob(alice.did, kept.ref.toString())
    assert.is(res.status, 200)
    assert.is((await res.arrayBuffer()).byteLength, 3000)
  } finally {
    delete net.env.PDS_BLOB_TEMP_GRACE_MS
  }
})

test('uploadBlob requires an access token', async () => {
  const rows = blobRows().length
  const res = await fetch(`${net.url}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(PNG_MAGIC),
  })
  assert.is(res.status, 401)
  assert.is(blobRows().length, rows)
})

test.run()
