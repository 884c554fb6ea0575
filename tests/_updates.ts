// Helpers for the app update tests: artifacts uploaded as blobs, releases and installs written
// through the generic com.atproto.repo methods, and the app.carrel.update queries through
// @atproto/api's agent.call (the lexicons from tests/_carrel-lexicons.ts).
import { createHash } from 'node:crypto'
import type { AtpAgent } from '@atproto/api'

export const RELEASE = 'app.carrel.update.release'
export const INSTALL = 'app.carrel.update.install'

export type BlobJson = { $type: 'blob'; ref: { $link: string }; mimeType: string; size: number }
export type Uploaded = { blob: BlobJson; sha256: string; size: number }

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

export async function uploadArtifact(agent: AtpAgent, bytes: Uint8Array): Promise<Uploaded> {
  const res = await agent.com.atproto.repo.uploadBlob(bytes, { encoding: 'application/octet-stream' })
  const blob = res.data.blob as unknown as { ref: { toString(): string }; mimeType: string; size: number }
  return { blob: { $type: 'blob', ref: { $link: blob.ref.toString() }, mimeType: blob.mimeType, size: blob.size }, sha256: sha256(bytes), size: bytes.length }
}

export function artifact(file: Uploaded, platform = 'linux', arch = 'x64', extra: Record<string, unknown> = {}) {
  return { platform, arch, blob: file.blob, sha256: file.sha256, size: file.size, fileName: `carrel-${platform}-${arch}.bin`, ...extra }
}

export type ReleaseFields = Record<string, unknown> & { version: string }

export function release(fields: ReleaseFields, product = 'library-manager') {
  return { $type: RELEASE, product, channel: 'stable', updateType: 'minor', publishedAt: new Date().toISOString(), ...fields }
}

/** putRecord of a release at its key; returns its URI and CID. */
export async function publish(agent: AtpAgent, did: string, fields: ReleaseFields, product = 'library-manager', opts: { validate?: boolean } = {}) {
  const res = await agent.com.atproto.repo.putRecord({ repo: did, collection: RELEASE, rkey: `${product}:${fields.version}`, record: release(fields, product), ...opts })
  return { uri: res.data.uri, cid: res.data.cid }
}

export type Offer = {
  status: string
  currentVersion: string
  currentYanked?: boolean
  yankReason?: string
  release?: { uri: string; cid: string; version: string; updateType: string; priority: number; channel: string; rolloutPercent: number; changelog?: string }
  method?: string
  artifact?: { url: string; cid: string; sha256: string; size: number; arch: string; fileName?: string }
  delta?: { url: string; cid: string; sha256: string; size: number; fromVersion: string; format: string }
}

export async function checkForUpdates(agent: AtpAgent, params: Record<string, unknown>): Promise<Offer> {
  const res = await agent.call('app.carrel.update.checkForUpdates', { product: 'library-manager', platform: 'linux', arch: 'x64', ...params })
  return res.data as Offer
}

export async function reportInstall(agent: AtpAgent, did: string, fields: Record<string, unknown>, rkey?: string) {
  const record = { $type: INSTALL, method: 'full', createdAt: new Date().toISOString(), ...fields }
  const res = rkey
    ? await agent.com.atproto.repo.putRecord({ repo: did, collection: INSTALL, rkey, record })
    : await agent.com.atproto.repo.createRecord({ repo: did, collection: INSTALL, record })
  return { uri: res.data.uri, cid: res.data.cid, rkey: res.data.uri.split('/').pop()! }
}
