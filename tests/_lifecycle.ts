// Helpers for the account lifecycle tests: an account with records and a blob, the sync and repo
// reads that must (not) be served, and the writes that must (not) be taken.
import { randomBytes } from 'node:crypto'
import type { AtpAgent } from '@atproto/api'
import * as assert from 'uvu/assert'
import { expectError, rawXrpc, type RawResponse } from './_util.ts'

export type Seeded = { recordUris: string[]; rkeys: string[]; blobCid: string }

/** Three posts and a record referencing an uploaded blob. */
export async function seedRepo(agent: AtpAgent, did: string, label: string): Promise<Seeded> {
  const recordUris: string[] = []
  const rkeys: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await agent.com.atproto.repo.createRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: `${label} post ${i}`, createdAt: new Date().toISOString() },
    })
    recordUris.push(res.data.uri)
    rkeys.push(res.data.uri.split('/').pop()!)
  }
  const upload = await agent.com.atproto.repo.uploadBlob(new Uint8Array(randomBytes(2048)), { encoding: 'application/octet-stream' })
  const blob = upload.data.blob as unknown as { ref: { toString(): string }; mimeType: string; size: number }
  const blobCid = blob.ref.toString()
  const res = await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'com.example.lifecycle.attachment',
    record: {
      $type: 'com.example.lifecycle.attachment',
      file: { $type: 'blob', ref: { $link: blobCid }, mimeType: blob.mimeType, size: blob.size },
    },
  })
  recordUris.push(res.data.uri)
  return { recordUris, rkeys, blobCid }
}

/** Every public read of one repo: sync API, repo reads, the blob. */
export async function publicReads(base: string, repo: { did: string; handle: string }, seeded: Seeded): Promise<Record<string, RawResponse>> {
  const rkey = seeded.rkeys[0]!
  const get = (nsid: string, params: Record<string, string>) => rawXrpc(base, nsid, { params })
  return {
    'sync.getRepo': await get('com.atproto.sync.getRepo', { did: repo.did }),
    'sync.getLatestCommit': await get('com.atproto.sync.getLatestCommit', { did: repo.did }),
    'sync.getRecord': await get('com.atproto.sync.getRecord', { did: repo.did, collection: 'app.bsky.feed.post', rkey }),
    'sync.listBlobs': await get('com.atproto.sync.listBlobs', { did: repo.did }),
    'sync.getBlob': await get('com.atproto.sync.getBlob', { did: repo.did, cid: seeded.blobCid }),
    'repo.getRecord (DID)': await get('com.atproto.repo.getRecord', { repo: repo.did, collection: 'app.bsky.feed.post', rkey }),
    'repo.getRecord (handle)': await get('com.atproto.repo.getRecord', { repo: repo.handle, collection: 'app.bsky.feed.post', rkey }),
    'repo.listRecords': await get('com.atproto.repo.listRecords', { repo: repo.did, collection: 'app.bsky.feed.post' }),
    'repo.describeRepo': await get('com.atproto.repo.describeRepo', { repo: repo.handle }),
  }
}

/** Every read (of `publicReads`) answered 200; `label` goes before each read's name in a failure. */
export function assertServed(reads: Record<string, RawResponse>, label?: string): void {
  for (const [name, res] of Object.entries(reads)) {
    assert.is(res.status, 200, `${label ? `${label} ` : ''}${name}: ${JSON.stringify(res.body)}`)
  }
}

/** Every read (of `publicReads`) refused with 400 and this XRPC error; a failure names the read. */
export function assertRefused(reads: Record<string, RawResponse>, error: string): void {
  for (const [name, res] of Object.entries(reads)) {
    try {
      expectError(res, 400, error)
    } catch (err) {
      if (err instanceof Error) err.message = `${name}: ${err.message}`
      throw err
    }
  }
}

/** Every kind of write, with the owner's token. */
export async function ownerWrites(base: string, token: string, did: string, rkey: string): Promise<Record<string, RawResponse>> {
  const post = { $type: 'app.bsky.feed.post', text: 'written while not active', createdAt: new Date().toISOString() }
  const res: Record<string, RawResponse> = {}
  res.createRecord = await rawXrpc(base, 'com.atproto.repo.createRecord', { token, body: { repo: did, collection: 'app.bsky.feed.post', record: post } })
  res.putRecord = await rawXrpc(base, 'com.atproto.repo.putRecord', {
    token,
    body: { repo: did, collection: 'app.bsky.feed.post', rkey, record: post },
  })
  res.deleteRecord = await rawXrpc(base, 'com.atproto.repo.deleteRecord', { token, body: { repo: did, collection: 'app.bsky.feed.post', rkey } })
  res.applyWrites = await rawXrpc(base, 'com.atproto.repo.applyWrites', {
    token,
    body: { repo: did, writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: post }] },
  })
  const upload = await fetch(new URL('/xrpc/com.atproto.repo.uploadBlob', base), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(randomBytes(512)),
  })
  res.uploadBlob = { status: upload.status, body: await upload.json(), headers: upload.headers }
  return res
}
