// Server-made delta patches, from outside: a publisher uploads two builds of a real program (V8
// startup snapshots, ~5.5 MB) and two tarballs of a source tree, publishes the new release staged
// at 0 %, asks the server for the deltas, publishes them; a device on the old version is offered
// the delta, downloads it, applies it with the same codec and gets the new build's SHA-256. The
// write path refuses a release whose sha256 or size is not its blob's; createDelta refuses what it
// cannot do and stores nothing when its patch does not reproduce the new artifact.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { applyDelta, hashPatched } from '../src/indexer/updates/delta/apply-delta.mjs'
import { didDirName } from '../src/repo/blobstore.ts'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { programBuilds, sourceTarballs } from './_update-artifacts.ts'
import { artifact, checkForUpdates, publish, RELEASE, release, sha256, uploadArtifact, type Uploaded } from './_updates.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

let net: TestNetwork
let work: string
type Account = { agent: AtpAgent; did: string }
let publisher: Account
let stranger: Account
let files: { v1: string; v2: string; src1: string; src2: string }
let up: { v1: Uploaded; v2: Uploaded; src1: Uploaded; src2: Uploaded }
let v2Uri: string
type DeltaEntry = { fromVersion: string; platform: string; arch: string; format: string; blob: any; sha256: string; size: number }

const account = async (name: string): Promise<Account> => {
  const a = await net.createAccount(name)
  return { agent: withCarrelLexicons(a.agent), did: a.did }
}

async function createDelta(who: Account, input: Record<string, unknown>): Promise<DeltaEntry> {
  return (await who.agent.call('app.carrel.update.createDelta', {}, input)).data as DeltaEntry
}

/** The blob files stored for an account, and what the delta worker's folder holds. */
function storedFiles(did: string): { blobs: string[]; work: string[] } {
  return { blobs: readdirSync(join(net.dataDir, 'blobs', didDirName(did))).sort(), work: readdirSync(join(net.dataDir, 'delta-work')) }
}

async function latestRev(did: string): Promise<string> {
  return ((await (await fetch(`${net.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)).json()) as { rev: string }).rev
}

test.before(async () => {
  net = await startNetwork({ PDS_BLOB_UPLOAD_LIMIT: String(20 * 1024 * 1024) })
  work = mkdtempSync(join(tmpdir(), 'carrel-delta-test-'))
  const builds = programBuilds(work)
  const sources = sourceTarballs(work)
  files = { v1: builds.v1, v2: builds.v2, src1: sources.v1, src2: sources.v2 }
  publisher = await account('publisher')
  stranger = await account('stranger')
  const upload = (path: string) => uploadArtifact(publisher.agent, new Uint8Array(readFileSync(path)))
  up = { v1: await upload(files.v1), v2: await upload(files.v2), src1: await upload(files.src1), src2: await upload(files.src2) }
  await publish(publisher.agent, publisher.did, { version: '1.0.0', artifacts: [artifact(up.v1), artifact(up.src1, 'windows', 'x64')] })
  // staged at 0 % until its deltas are in
  v2Uri = (
    await publish(publisher.agent, publisher.did, {
      version: '1.0.1',
      rolloutPercent: 0,
      artifacts: [artifact(up.v2), artifact(up.src2, 'windows', 'x64')],
    })
  ).uri
})

test.after(async () => {
  await net?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

test('the server makes a delta between two builds, proves it, and a device on the old build applies it to the new build', async () => {
  const before = await checkForUpdates(stranger.agent, { publisher: publisher.did, currentVersion: '1.0.0', device: 'laptop-1' })
  assert.is(before.status, 'upToDate', 'staged at 0 %: not offered yet')

  const linux = await createDelta(publisher, { release: v2Uri, fromVersion: '1.0.0', platform: 'linux', arch: 'x64' })
  const windows = await createDelta(publisher, { release: v2Uri, fromVersion: '1.0.0', platform: 'windows', arch: 'x64' })
  assert.is(linux.format, 'carrel-zstd-segments-1')
  assert.is(linux.fromVersion, '1.0.0')
  assert.ok(linux.size < up.v2.size / 5, `a build's patch is small: ${linux.size} bytes for ${up.v2.size}`)
  assert.ok(windows.size < 5000, `three edited files in a tarball make a tiny patch: ${windows.size} bytes`)
  console.log(`[figure] delta of a ${(up.v2.size / 1e6).toFixed(1)} MB program build: ${linux.size} bytes; of a ${(up.src2.size / 1e3).toFixed(0)} kB tarball with 3 files edited: ${windows.size} bytes`)
  assert.is(storedFiles(publisher.did).work.length, 0, 'the worker folder is left empty')

  await publish(publisher.agent, publisher.did, {
    version: '1.0.1',
    artifacts: [artifact(up.v2), artifact(up.src2, 'windows', 'x64')],
    deltas: [linux, windows],
  })

  for (const [platform, oldFile, newUpload] of [
    ['linux', files.v1, up.v2],
    ['windows', files.src1, up.src2],
  ] as const) {
    const offer = await checkForUpdates(stranger.agent, { publisher: publisher.did, currentVersion: '1.0.0', platform, device: 'laptop-1' })
    assert.is(offer.status, 'update')
    assert.is(offer.method, 'delta')
    assert.is(offer.release!.version, '1.0.1')
    assert.is(offer.artifact!.sha256, newUpload.sha256)
    assert.is(offer.delta!.fromVersion, '1.0.0')
    // the device downloads the patch from the URL it was given and applies it to what it runs
    const res = await fetch(offer.delta!.url)
    assert.is(res.status, 200)
    const patch = new Uint8Array(await res.arrayBuffer())
    assert.is(patch.length, offer.delta!.size)
    assert.is(sha256(patch), offer.delta!.sha256)
    const patchPath = join(work, `${platform}.delta`)
    writeFileSync(patchPath, patch)
    const chunks: Buffer[] = []
    await applyDelta(oldFile, patchPath, (c) => {
      chunks.push(c)
    })
    const rebuilt = Buffer.concat(chunks)
    assert.is(sha256(rebuilt), offer.artifact!.sha256, `${platform}: the patched build is the new build`)
    assert.is(rebuilt.length, newUpload.size)
  }

  // a device on the new build is up to date; one with no artifact for its arch is not offered anything
  assert.is((await checkForUpdates(stranger.agent, { publisher: publisher.did, currentVersion: '1.0.1' })).status, 'upToDate')
  assert.is((await checkForUpdates(stranger.agent, { publisher: publisher.did, currentVersion: '1.0.0', arch: 'arm64' })).status, 'upToDate')
})

test('a patch applied to the wrong old file is refused, not turned into a wrong build', async () => {
  const offer = await checkForUpdates(stranger.agent, { publisher: publisher.did, currentVersion: '1.0.0', device: 'laptop-1' })
  const patchPath = join(work, 'refused.delta')
  writeFileSync(patchPath, new Uint8Array(await (await fetch(offer.delta!.url)).arrayBuffer()))
  // same size as the old build, other bytes: zstd's frame checksums catch it
  const wrongOld = join(work, 'wrong-old.blob')
  const bytes = readFileSync(files.v1)
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] ^= 0xff
  writeFileSync(wrongOld, bytes)
  const refusal = async (old: string) => hashPatched(old, patchPath).then(() => undefined, (err: Error) => err.message)
  assert.match((await refusal(wrongOld)) ?? 'applied', /does not decompress/)
  assert.match((await refusal(files.src1)) ?? 'applied', /old file of/)
  assert.is((await hashPatched(files.v1, patchPath)).sha256, offer.artifact!.sha256, 'the right old file still works')
})

test('createDelta refuses, changing nothing: unknown releases, missing artifacts, a lower target, another publisher', async () => {
  const stored = storedFiles(publisher.did)
  const rev = await latestRev(publisher.did)
  const call = (who: Account, input: Record<string, unknown>) => () => createDelta(who, { platform: 'linux', arch: 'x64', fromVersion: '1.0.0', release: v2Uri, ...input })
  await expectXrpcError(call(publisher, { release: `at://${publisher.did}/${RELEASE}/library-manager:9.9.9` }), 400, 'ReleaseNotFound')
  await expectXrpcError(call(publisher, { fromVersion: '0.9.0' }), 400, 'ReleaseNotFound')
  await expectXrpcError(call(publisher, { arch: 'arm64' }), 400, 'ArtifactNotFound')
  await expectXrpcError(call(publisher, { platform: 'macos' }), 400, 'ArtifactNotFound')
  const lower = await expectXrpcError(call(publisher, { release: `at://${publisher.did}/${RELEASE}/library-manager:1.0.0`, fromVersion: '1.0.1' }), 400, 'InvalidRequest')
  assert.match(lower.message, /lower than/)
  await expectXrpcError(call(publisher, { fromVersion: 'one' }), 400, 'InvalidRequest')
  await expectXrpcError(call(publisher, { release: `at://${publisher.did}/app.bsky.feed.post/3kabc` }), 400, 'InvalidRequest')
  await expectXrpcError(call(stranger, {}), 403, 'Forbidden')
  const unauthenticated = await rawXrpc(net.url, 'app.carrel.update.createDelta', {
    body: { release: v2Uri, fromVersion: '1.0.0', platform: 'linux', arch: 'x64' },
  })
  assert.is(unauthenticated.status, 401)
  assert.equal(storedFiles(publisher.did), stored, 'no blob stored, the worker folder empty')
  assert.is(await latestRev(publisher.did), rev, 'the repo is unchanged')
})

test('a new artifact whose stored bytes no longer hash to its sha256 gets no patch: 500, nothing stored', async () => {
  const path = join(net.dataDir, 'blobs', didDirName(publisher.did), up.v2.blob.ref.$link)
  const good = readFileSync(path)
  const damaged = Buffer.from(good)
  damaged[1000] ^= 0x01
  writeFileSync(path, damaged)
  const stored = storedFiles(publisher.did)
  try {
    await expectXrpcError(
      () => createDelta(publisher, { release: v2Uri, fromVersion: '1.0.0', platform: 'linux', arch: 'x64' }),
      500,
      'InternalServerError',
    )
    assert.equal(storedFiles(publisher.did), stored)
  } finally {
    writeFileSync(path, good)
  }
  // an artifact whose blob file is gone
  const oldPath = join(net.dataDir, 'blobs', didDirName(publisher.did), up.v1.blob.ref.$link)
  const oldBytes = readFileSync(oldPath)
  rmSync(oldPath)
  try {
    await expectXrpcError(() => createDelta(publisher, { release: v2Uri, fromVersion: '1.0.0', platform: 'linux', arch: 'x64' }), 400, 'BlobNotFound')
    assert.equal(storedFiles(publisher.did).work, [], 'the worker folder is left empty')
  } finally {
    writeFileSync(oldPath, oldBytes)
  }
  assert.equal(storedFiles(publisher.did), stored)
  // with the artifacts' bytes back, the same request succeeds: the damage was the reason
  const again = await createDelta(publisher, { release: v2Uri, fromVersion: '1.0.0', platform: 'linux', arch: 'x64' })
  assert.ok(again.size > 0)
})

test("the write path refuses a release whose artifact or delta does not state its blob's sha256 and size", async () => {
  const rev = await latestRev(publisher.did)
  const bad = async (fields: Record<string, unknown>, path: string, validate?: boolean) => {
    const err = await expectXrpcError(
      () => publish(publisher.agent, publisher.did, { version: '2.0.0', ...fields }, 'library-manager', validate === undefined ? {} : { validate }),
      400,
      'InvalidRecord',
    )
    assert.ok(err.message.includes(path), `${err.message} names ${path}`)
  }
  const wrongSha = { ...artifact(up.v2), sha256: up.v1.sha256 }
  await bad({ artifacts: [wrongSha] }, 'artifacts/0/sha256')
  await bad({ artifacts: [wrongSha] }, 'artifacts/0/sha256', false)
  await bad({ artifacts: [artifact(up.v1), { ...artifact(up.v2, 'windows'), size: up.v2.size + 1 }] }, 'artifacts/1/size')
  await bad({ artifacts: [artifact(up.v2)], deltas: [{ fromVersion: '1.0.0', platform: 'linux', arch: 'x64', format: 'carrel-zstd-segments-1', blob: up.src1.blob, sha256: up.src2.sha256, size: up.src1.size }] }, 'deltas/0/sha256')
  await bad({ artifacts: [artifact(up.v2)], deltas: [{ fromVersion: '2.0.0', platform: 'linux', arch: 'x64', format: 'carrel-zstd-segments-1', blob: up.src1.blob, sha256: up.src1.sha256, size: up.src1.size }] }, 'deltas/0/fromVersion')
  await bad({ artifacts: [artifact(up.v2), artifact(up.v1)] }, 'artifacts/1')
  const badProduct = await expectXrpcError(
    () => publisher.agent.com.atproto.repo.putRecord({ repo: publisher.did, collection: RELEASE, rkey: '_library-manager:2.0.0', record: release({ version: '2.0.0', artifacts: [artifact(up.v2)] }, '_library-manager') }),
    400,
    'InvalidRecord',
  )
  assert.match(badProduct.message, /Record\/product/)
  // the key is <product>:<version>, and the version is semver without build metadata
  const misKeyed = await expectXrpcError(
    () => publisher.agent.com.atproto.repo.putRecord({ repo: publisher.did, collection: RELEASE, rkey: 'library-manager:2.0.1', record: release({ version: '2.0.0', artifacts: [artifact(up.v2)] }) }),
    400,
    'InvalidRecord',
  )
  assert.match(misKeyed.message, /Record\/version/)
  await expectXrpcError(
    () => publisher.agent.com.atproto.repo.putRecord({ repo: publisher.did, collection: RELEASE, rkey: 'library-manager:2.0', record: release({ version: '2.0', artifacts: [artifact(up.v2)] }) }),
    400,
    'InvalidRecord',
  )
  // a number the semver package would compare as a rounded float
  const huge = '2.0.0-99999999999999999999'
  const hugeErr = await expectXrpcError(
    () => publisher.agent.com.atproto.repo.putRecord({ repo: publisher.did, collection: RELEASE, rkey: `library-manager:${huge}`, record: release({ version: huge, artifacts: [artifact(up.v2)] }) }),
    400,
    'InvalidRecord',
  )
  assert.match(hugeErr.message, /Record\/version/)
  assert.is(await latestRev(publisher.did), rev, 'nothing was written')
  const list = await publisher.agent.com.atproto.repo.listRecords({ repo: publisher.did, collection: RELEASE })
  assert.equal(list.data.records.map((r) => r.uri.split('/').pop()).sort(), ['library-manager:1.0.0', 'library-manager:1.0.1'])
})

test.run()
