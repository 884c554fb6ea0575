// checkForUpdates from outside: channels and pre-releases, releases without the device's platform
// (and 'universal' artifacts), yanked releases and rollback targets, staged rollouts over 1,000
// simulated devices (the share offered follows rolloutPercent, no device's answer ever flips,
// raising the share only adds devices, critical releases reach everyone), and refusals.
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { artifact, checkForUpdates, publish, RELEASE, uploadArtifact, type Offer, type Uploaded } from './_updates.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

let net: TestNetwork
let agent: AtpAgent
let did: string
let reader: AtpAgent
let small: Uploaded
let big: Uploaded

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('offers-publisher')
  agent = withCarrelLexicons(a.agent)
  did = a.did
  reader = withCarrelLexicons(net.agent())
  small = await uploadArtifact(agent, new Uint8Array(randomBytes(3000)))
  big = await uploadArtifact(agent, new Uint8Array(randomBytes(9000)))
})

test.after(async () => {
  await net?.close()
})

const check = (product: string, params: Record<string, unknown>) => checkForUpdates(reader, { publisher: did, product, ...params })
const version = (o: Offer) => (o.status === 'upToDate' ? 'upToDate' : `${o.status} ${o.release!.version}`)

test('channels: stable devices get stable releases only; other channels get theirs, stable, and pre-releases', async () => {
  const p = 'channels'
  await publish(agent, did, { version: '2.0.0', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '2.0.1', channel: 'beta', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '2.0.2-pre.1', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '2.1.0-beta.1', channel: 'beta', updateType: 'beta', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '2.1.0-rc.1', channel: 'insider', artifacts: [artifact(small)] }, p)
  assert.is(version(await check(p, { currentVersion: '2.0.0' })), 'upToDate', 'stable: no beta, no pre-release (even one published on stable)')
  assert.is(version(await check(p, { currentVersion: '2.0.0', channel: 'stable' })), 'upToDate')
  assert.is(version(await check(p, { currentVersion: '2.0.0', channel: 'beta' })), 'update 2.1.0-beta.1')
  assert.is(version(await check(p, { currentVersion: '2.0.0', channel: 'insider' })), 'update 2.1.0-rc.1', "a publisher's own channel")
  assert.is(version(await check(p, { currentVersion: '2.1.0-beta.1', channel: 'beta' })), 'upToDate')
  assert.is(version(await check(p, { currentVersion: '2.1.0-beta.1', channel: 'insider' })), 'update 2.1.0-rc.1', 'rc.1 > beta.1')
  assert.is(version(await check(p, { currentVersion: '2.1.0-alpha', channel: 'beta' })), 'update 2.1.0-beta.1', 'alpha < beta.1')
  await publish(agent, did, { version: '2.1.0', artifacts: [artifact(small)] }, p)
  assert.is(version(await check(p, { currentVersion: '2.0.0' })), 'update 2.1.0')
  assert.is(version(await check(p, { currentVersion: '2.1.0-rc.1', channel: 'insider' })), 'update 2.1.0', 'a release outranks its pre-releases')
  assert.is(version(await check(p, { currentVersion: '2.1.0+build.7' })), 'upToDate', 'build metadata takes no part in precedence')
  const offer = await check(p, { currentVersion: '2.0.0' })
  assert.is(offer.release!.uri, `at://${did}/${RELEASE}/${p}:2.1.0`)
  assert.equal(
    { updateType: offer.release!.updateType, priority: offer.release!.priority, sha256: offer.artifact!.sha256, size: offer.artifact!.size, method: offer.method },
    { updateType: 'minor', priority: 0, sha256: small.sha256, size: small.size, method: 'full' },
  )
  const download = await fetch(offer.artifact!.url)
  assert.is(download.status, 200)
  assert.is(Buffer.from(await download.arrayBuffer()).length, small.size)
})

test('platforms: a release without the device platform is passed over; universal artifacts serve every arch without one of its own', async () => {
  const p = 'platforms'
  const other = await uploadArtifact(agent, new Uint8Array(randomBytes(4000)))
  await publish(agent, did, { version: '3.0.0', artifacts: [artifact(small), artifact(small, 'windows'), artifact(small, 'macos', 'universal')] }, p)
  const delta = (from: string, file: Uploaded) => ({ fromVersion: from, platform: 'linux', arch: 'x64', format: 'carrel-zstd-segments-1', blob: file.blob, sha256: file.sha256, size: file.size })
  await publish(agent, did, { version: '3.1.0', artifacts: [artifact(other, 'linux', 'x64', { minOsVersion: '5.15' })], deltas: [delta('3.0.0', big), delta('2.9.0', small)] }, p)
  await publish(agent, did, { version: '2.9.0', artifacts: [artifact(small)] }, p)
  assert.is(version(await check(p, { currentVersion: '3.0.0' })), 'update 3.1.0')
  assert.is(version(await check(p, { currentVersion: '3.0.0', platform: 'windows' })), 'upToDate', '3.1.0 has no windows build')
  assert.is(version(await check(p, { currentVersion: '2.9.0', platform: 'windows' })), 'update 3.0.0', 'the newest release that has it')
  assert.is(version(await check(p, { currentVersion: '3.0.0', arch: 'arm64' })), 'upToDate')
  const mac = await check(p, { currentVersion: '2.9.0', platform: 'macos', arch: 'arm64' })
  assert.is(version(mac), 'update 3.0.0')
  assert.is(mac.artifact!.arch, 'universal')
  // a delta larger than the artifact is not offered; a smaller one from the device's version is
  const fromOld = await check(p, { currentVersion: '3.0.0' })
  assert.equal([fromOld.method, fromOld.delta, fromOld.artifact!.sha256], ['full', undefined, other.sha256])
  assert.is((fromOld.artifact as { minOsVersion?: string }).minOsVersion, '5.15')
  const fromOlder = await check(p, { currentVersion: '2.9.0' })
  assert.equal([fromOlder.method, fromOlder.delta!.sha256, fromOlder.delta!.fromVersion], ['delta', small.sha256, '2.9.0'])
  // an exact arch wins over universal
  await publish(agent, did, { version: '3.2.0', artifacts: [artifact(small, 'macos', 'universal'), artifact(other, 'macos', 'arm64')] }, p)
  assert.is((await check(p, { currentVersion: '3.0.0', platform: 'macos', arch: 'arm64' })).artifact!.arch, 'arm64')
  assert.is((await check(p, { currentVersion: '3.0.0', platform: 'macos', arch: 'x64' })).artifact!.arch, 'universal')
})

test('yanked releases are never offered; devices on one get the newest good release, or go back to the newest earlier release with rollbackSupported', async () => {
  const p = 'yanks'
  await publish(agent, did, { version: '4.0.0', rollbackSupported: true, artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '4.1.0', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '4.2.0', yanked: true, yankReason: 'corrupts libraries', artifacts: [artifact(small)] }, p)
  assert.is(version(await check(p, { currentVersion: '4.1.0' })), 'upToDate', 'the yanked 4.2.0 is not offered')
  const stuck = await check(p, { currentVersion: '4.2.0', device: 'desk-1' })
  assert.is(version(stuck), 'rollback 4.0.0', '4.1.0 does not support rollback')
  assert.equal([stuck.currentYanked, stuck.yankReason], [true, 'corrupts libraries'])
  // a fix staged at 0 %: devices on the yanked release get it at once, the others wait
  await publish(agent, did, { version: '4.2.1', rolloutPercent: 0, artifacts: [artifact(small)] }, p)
  assert.is(version(await check(p, { currentVersion: '4.2.0', device: 'desk-1' })), 'update 4.2.1')
  assert.is(version(await check(p, { currentVersion: '4.1.0', device: 'desk-1' })), 'upToDate')
  // nothing newer and no rollback target: up to date, and told it runs a yanked release
  await agent.com.atproto.repo.deleteRecord({ repo: did, collection: RELEASE, rkey: `${p}:4.2.1` })
  await publish(agent, did, { version: '4.0.0', rollbackSupported: true, yanked: true, artifacts: [artifact(small)] }, p)
  const nowhere = await check(p, { currentVersion: '4.2.0' })
  assert.equal([nowhere.status, nowhere.currentYanked, nowhere.release], ['upToDate', true, undefined])
})

test('staged rollout: over 1,000 devices the share offered follows rolloutPercent, answers never flip, raising it only adds devices, critical releases reach all', async () => {
  const p = 'rollout'
  await publish(agent, did, { version: '5.0.0', artifacts: [artifact(small)] }, p)
  await publish(agent, did, { version: '5.1.0', rolloutPercent: 30, artifacts: [artifact(small)] }, p)
  const devices = Array.from({ length: 1000 }, (_, i) => `device-${i}`)
  /** device -> the version it is offered, for every device offered something */
  const offers = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>()
    for (let i = 0; i < devices.length; i += 25) {
      const batch = devices.slice(i, i + 25)
      const answers = await Promise.all(batch.map((device) => check(p, { currentVersion: '5.0.0', device })))
      answers.forEach((a, k) => {
        if (a.status === 'update') out.set(batch[k]!, a.release!.version)
      })
    }
    return out
  }
  const offered = async () => new Set((await offers()).keys())
  const at30 = await offered()
  const again = await offered()
  assert.ok(Math.abs(at30.size - 300) <= 50, `${at30.size} of 1,000 devices offered at 30 %`)
  assert.equal([...again].sort(), [...at30].sort(), 'every device got the same answer again')
  console.log(`[figure] rollout: ${at30.size} of 1,000 devices offered at 30 %`)
  await publish(agent, did, { version: '5.1.0', rolloutPercent: 60, artifacts: [artifact(small)] }, p)
  const at60 = await offered()
  assert.ok(Math.abs(at60.size - 600) <= 50, `${at60.size} of 1,000 devices offered at 60 %`)
  assert.ok([...at30].every((d) => at60.has(d)), 'raising the share kept every device that had it')
  console.log(`[figure] rollout: ${at60.size} of 1,000 devices offered at 60 %`)
  assert.is(version(await check(p, { currentVersion: '5.0.0' })), 'upToDate', 'a device that gives no id is outside a partial rollout')
  // a device's bucket is its own for each release: another release at 30 % takes other devices
  await publish(agent, did, { version: '5.2.0', rolloutPercent: 30, artifacts: [artifact(small)] }, p)
  const both = await offers()
  const got52 = [...both].filter(([, v]) => v === '5.2.0').map(([d]) => d)
  const tally = new Map<string, number>()
  for (const v of both.values()) tally.set(v, (tally.get(v) ?? 0) + 1)
  console.log(`[figure] rollout: ${got52.length} of 1,000 devices offered 5.2.0 at 30 % (${JSON.stringify([...tally])}, ${1000 - both.size} up to date)`)
  assert.ok(Math.abs(got52.length - 300) <= 50, `${got52.length} of 1,000 devices offered 5.2.0 at 30 %`)
  const shared = got52.filter((d) => at30.has(d)).length
  assert.ok(shared < 200, `${shared} of them were also in 5.1.0's first 30 % (about 90 expected by chance, 300 if buckets were per device)`)
  assert.ok([...both].every(([d, v]) => v === '5.2.0' || at60.has(d)), 'the others still get 5.1.0 as before')
  // critical: everyone, whatever the share
  await publish(agent, did, { version: '5.3.0', rolloutPercent: 1, updateType: 'critical', priority: 100, artifacts: [artifact(small)] }, p)
  const sample = await Promise.all(devices.slice(0, 100).map((device) => check(p, { currentVersion: '5.0.0', device })))
  assert.ok(sample.every((a) => a.release?.version === '5.3.0' && a.release.updateType === 'critical' && a.release.priority === 100))
  assert.is(version(await check(p, { currentVersion: '5.0.0' })), 'update 5.3.0')
})

test('refusals: a version that is not semver, an unknown platform, an unknown or deactivated publisher', async () => {
  const bad = await rawXrpc(net.url, 'app.carrel.update.checkForUpdates', {
    params: { publisher: did, product: 'channels', platform: 'linux', arch: 'x64', currentVersion: 'v2' },
  })
  assert.equal([bad.status, bad.body.error], [400, 'InvalidRequest'])
  assert.match(bad.body.message, /currentVersion/)
  const platform = await rawXrpc(net.url, 'app.carrel.update.checkForUpdates', {
    params: { publisher: did, product: 'channels', platform: 'beos', arch: 'x64', currentVersion: '2.0.0' },
  })
  assert.equal([platform.status, platform.body.error], [400, 'InvalidRequest'])
  await expectXrpcError(() => check('channels', { publisher: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', currentVersion: '2.0.0' }), 400, 'RepoNotFound')
  await agent.com.atproto.server.deactivateAccount({})
  try {
    await expectXrpcError(() => check('channels', { currentVersion: '2.0.0' }), 400, 'RepoDeactivated')
  } finally {
    await agent.com.atproto.server.activateAccount()
  }
  assert.is(version(await check('channels', { currentVersion: '2.0.0' })), 'update 2.1.0', 'served again, with its releases intact')
})

test.run()
