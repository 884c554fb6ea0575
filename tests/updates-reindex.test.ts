// The update tables are derived data: `npm run reindex` (server stopped) and the start-up rebuild
// (after migration 008, or a raised index version) make exactly the rows the commit hook made,
// compared row by row, and never touch the rollout key: no device's place in a staged rollout
// moves. Records written with validate: false that are not valid releases stay out of the tables.
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { readDbFile, runReindex } from './_util.ts'
import { artifact, checkForUpdates, publish, RELEASE, release, reportInstall, uploadArtifact } from './_updates.ts'

const TABLES = ['update_release', 'update_artifact', 'update_delta', 'update_install', 'update_index_state', 'update_rollout_key']
let net: TestNetwork
let agent: AtpAgent
let did: string
let live: Record<string, unknown[]>
let answers: string[]

function rows(db: Database.Database): Record<string, unknown[]> {
  return Object.fromEntries(TABLES.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]))
}

const onDisk = (change?: (db: Database.Database) => void) => readDbFile(net.dataDir, rows, change)

const wipe = (db: Database.Database) => db.exec('DELETE FROM update_release; DELETE FROM update_artifact; DELETE FROM update_delta; DELETE FROM update_install')

/** What 200 devices on 1.0.0 are offered (the release at 50 %: half of them, by their buckets). */
async function offers(): Promise<string[]> {
  const reader = withCarrelLexicons(net.agent())
  const out: string[] = []
  for (let i = 0; i < 200; i++) out.push((await checkForUpdates(reader, { publisher: did, currentVersion: '1.0.0', device: `d${i}` })).status)
  return out
}

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('reindex-publisher')
  agent = withCarrelLexicons(a.agent)
  did = a.did
  const file = await uploadArtifact(agent, new Uint8Array(randomBytes(2000)))
  const other = await uploadArtifact(agent, new Uint8Array(randomBytes(1000)))
  const r1 = await publish(agent, did, { version: '1.0.0', artifacts: [artifact(file), artifact(file, 'windows')] })
  await publish(agent, did, {
    version: '1.1.0',
    rolloutPercent: 50,
    changelog: 'Faster search',
    artifacts: [artifact(file, 'linux', 'x64', { minOsVersion: '5.10' })],
    deltas: [{ fromVersion: '1.0.0', platform: 'linux', arch: 'x64', format: 'carrel-zstd-segments-1', blob: other.blob, sha256: other.sha256, size: other.size }],
  })
  await publish(agent, did, { version: '0.9.0', yanked: true, yankReason: 'old', artifacts: [artifact(file)] }, 'other-product')
  await publish(agent, did, { version: '0.9.1', artifacts: [artifact(file)] }, 'other-product')
  await agent.com.atproto.repo.deleteRecord({ repo: did, collection: RELEASE, rkey: 'other-product:0.9.1' })
  // not a valid release (its key has no version): kept in the repo, not in the tables
  await agent.com.atproto.repo.putRecord({ repo: did, collection: RELEASE, rkey: 'draft', record: { ...release({ version: '1.2.0' }), product: 7 }, validate: false })
  const i = await reportInstall(agent, did, { release: r1, toVersion: '1.0.0', device: 'desk', status: 'pending' })
  await reportInstall(agent, did, { release: r1, toVersion: '1.0.0', device: 'desk', status: 'completed' }, i.rkey)
  await reportInstall(agent, did, { release: r1, toVersion: '1.0.0', device: 'laptop', status: 'failed', errorCode: 'E_IO' })
  live = rows(net.pds.ctx.db.sqlite)
  assert.equal([live.update_release!.length, live.update_artifact!.length, live.update_delta!.length, live.update_install!.length], [3, 4, 1, 2])
  answers = await offers()
  assert.ok(answers.includes('update') && answers.includes('upToDate'), 'a rollout worth comparing')
})

test.after(async () => {
  await net?.close()
})

const reindex = () => runReindex(net.dataDir)

test('npm run reindex rebuilds every update row from the repos alone, and keeps the rollout key', async () => {
  await net.pds.close()
  onDisk(wipe)
  const res = reindex()
  assert.is(res.status, 0, res.stderr)
  assert.match(res.stdout, /updates: 3 releases and 2 installs indexed from 6 records/)
  assert.equal(onDisk(), live)
  await net.restart()
  assert.equal(await offers(), answers, 'every device gets the answer it got before')
})

test('the server rebuilds the tables at start-up when they are out of date (migration 008 on old data)', async () => {
  await net.pds.close()
  onDisk((db) => {
    wipe(db)
    db.exec('DELETE FROM update_index_state')
  })
  await net.restart()
  assert.equal(rows(net.pds.ctx.db.sqlite), live)
  assert.equal(await offers(), answers)
})

test("a repo's deletion (deleteRepoInTx) removes its rows and nothing else", async () => {
  const db = net.pds.ctx.db.sqlite
  const other = await net.createAccount('reindex-other')
  const otherAgent = withCarrelLexicons(other.agent)
  const file = await uploadArtifact(otherAgent, new Uint8Array(randomBytes(500)))
  await publish(otherAgent, other.did, { version: '7.0.0', artifacts: [artifact(file)] }, 'tool')
  const withOther = rows(db)
  for (const hook of net.pds.ctx.repo.hooks) db.transaction(() => hook.deleteRepoInTx?.(did))()
  const after = rows(db)
  for (const t of ['update_release', 'update_artifact', 'update_delta', 'update_install']) {
    assert.equal(after[t], (withOther[t] as { did: string }[]).filter((r) => r.did !== did), t)
  }
  assert.equal(after.update_release!.length, 1)
  assert.equal(after.update_rollout_key, live.update_rollout_key)
})

test.run()
