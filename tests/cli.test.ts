// `carrel` against a running server (its admin API) and against the data directory of a stopped
// one: the same commands, the same results; a data directory a server runs on is refused.
import { AtpAgent } from '@atproto/api'
import { readCarWithRoot } from '@atproto/repo'
import Database from 'better-sqlite3'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { carrel } from './_cli.ts'
import { seedRepo } from './_lifecycle.ts'
import { ADMIN_AUTH } from './_admin.ts'
import { rawXrpc } from './_util.ts'

let net: TestNetwork

/** the CLI's environment for the test server: its port (the default URL) and its data directory */
function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PDS_DATA_DIRECTORY: net.dataDir,
    PDS_PORT: String(net.pds.http.port),
    PDS_ADMIN_PASSWORD: net.env.PDS_ADMIN_PASSWORD!,
    PDS_DID_PLC_URL: net.env.PDS_DID_PLC_URL!,
    PDS_JWT_SECRET: net.env.PDS_JWT_SECRET!,
    ...extra,
  }
}

test.before(async () => {
  net = await startNetwork()
})

test.after(async () => {
  await net.close()
})

test('account create, list and info through the running server (--json), and the account works', async () => {
  const created = await carrel(['account', 'create', 'alice.test', 'alice@mail.test', '--json'], serverEnv())
  assert.is(created.code, 0, created.stderr)
  const { did, handle, password } = created.json()
  assert.is(handle, 'alice.test')
  assert.match(did, /^did:plc:/)
  await new AtpAgent({ service: net.url }).login({ identifier: 'alice.test', password })

  const list = await carrel(['account', 'list', '--json'], serverEnv())
  assert.is(list.code, 0, list.stderr)
  const listed = list.json().accounts.find((a: { did: string }) => a.did === did)
  assert.equal({ handle: listed.handle, email: listed.email, status: listed.status }, { handle: 'alice.test', email: 'alice@mail.test', status: 'active' })
  assert.is(listed.rev, (await rawXrpc(net.url, 'com.atproto.sync.getLatestCommit', { params: { did } })).body.rev)

  const info = await carrel(['account', 'info', 'alice.test', '--json'], serverEnv())
  assert.is(info.code, 0, info.stderr)
  assert.is(info.json().did, did)
  assert.is(info.json().status, 'active')

  const human = await carrel(['account', 'list'], serverEnv())
  assert.is(human.code, 0)
  assert.match(human.stdout, /HANDLE\s+DID\s+STATUS/)
  assert.match(human.stdout, /alice\.test/)
})

test('takedown, untakedown, deactivate, activate through the server: the repo is hidden, then served again', async () => {
  const bob = await net.createAccount('bob')
  const getRepo = () => rawXrpc(net.url, 'com.atproto.sync.getRepoStatus', { params: { did: bob.did } })

  const down = await carrel(['account', 'takedown', 'bob.test', '--ref', 'case-1', '--json'], serverEnv())
  assert.is(down.code, 0, down.stderr)
  assert.equal(down.json(), { did: bob.did, status: 'takendown' })
  assert.is((await getRepo()).body.status, 'takendown')
  const status = await rawXrpc(net.url, 'com.atproto.admin.getSubjectStatus', { params: { did: bob.did }, authorization: ADMIN_AUTH })
  assert.equal(status.body.takedown, { applied: true, ref: 'case-1' })

  const up = await carrel(['account', 'untakedown', bob.did, '--json'], serverEnv())
  assert.is(up.code, 0, up.stderr)
  assert.is(up.json().status, 'active')
  assert.is((await getRepo()).body.active, true)

  const off = await carrel(['account', 'deactivate', 'bob.test', '--json'], serverEnv())
  assert.is(off.json().status, 'deactivated')
  assert.is((await getRepo()).body.status, 'deactivated')
  const on = await carrel(['account', 'activate', 'bob.test', '--json'], serverEnv())
  assert.is(on.code, 0, on.stderr)
  assert.is((await getRepo()).body.active, true)
})

test('reset-password: the new password logs in, the old one does not', async () => {
  const carol = await net.createAccount('carol')
  const r = await carrel(['account', 'reset-password', 'carol.test', '--json'], serverEnv())
  assert.is(r.code, 0, r.stderr)
  const { password } = r.json()
  assert.ok(password.length >= 20)
  await new AtpAgent({ service: net.url }).login({ identifier: 'carol.test', password })
  const old = await rawXrpc(net.url, 'com.atproto.server.createSession', { body: { identifier: 'carol.test', password: carol.password } })
  assert.is(old.status, 401)
})

test('invite create --uses N: a code the server knows with N uses', async () => {
  const r = await carrel(['invite', 'create', '--uses', '3', '--json'], serverEnv())
  assert.is(r.code, 0, r.stderr)
  const { code } = r.json()
  const codes = await rawXrpc(net.url, 'com.atproto.admin.getInviteCodes', { params: { limit: '500' }, authorization: ADMIN_AUTH })
  const found = codes.body.codes.find((c: { code: string }) => c.code === code)
  assert.is(found?.available, 3)
  const bad = await carrel(['invite', 'create', '--uses', '0'], serverEnv())
  assert.is(bad.code, 2)
})

test('export writes the repo as a CAR whose root is the current commit', async () => {
  const dave = await net.createAccount('dave')
  await seedRepo(dave.agent, dave.did, 'dave')
  const file = join(net.dataDir, 'export-test.car')
  const r = await carrel(['export', 'dave.test', file, '--json'], serverEnv())
  assert.is(r.code, 0, r.stderr)
  const bytes = readFileSync(file)
  assert.is(r.json().bytes, bytes.length)
  const { root, blocks } = await readCarWithRoot(bytes)
  const latest = await rawXrpc(net.url, 'com.atproto.sync.getLatestCommit', { params: { did: dave.did } })
  assert.is(root.toString(), latest.body.cid)
  assert.ok(blocks.size > 3)
})

test('delete needs --yes (exit 2, nothing deleted), then deletes the account', async () => {
  const erin = await net.createAccount('erin')
  const refused = await carrel(['account', 'delete', 'erin.test'], serverEnv())
  assert.is(refused.code, 2)
  assert.match(refused.stderr, /--yes/)
  assert.is((await rawXrpc(net.url, 'com.atproto.sync.getRepoStatus', { params: { did: erin.did } })).status, 200)
  const r = await carrel(['account', 'delete', 'erin.test', '--yes', '--json'], serverEnv())
  assert.is(r.code, 0, r.stderr)
  assert.equal(r.json(), { did: erin.did, deleted: true })
  assert.is((await rawXrpc(net.url, 'com.atproto.sync.getRepoStatus', { params: { did: erin.did } })).body.error, 'RepoNotFound')
})

test('errors: unknown account (1, AccountNotFound), wrong admin password (1), unknown command (2), no server at --url (4)', async () => {
  const missing = await carrel(['account', 'info', 'nobody.test', '--json'], serverEnv())
  assert.is(missing.code, 1)
  assert.is(missing.json().error, 'AccountNotFound')
  const missingDid = await carrel(['account', 'takedown', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', '--json'], serverEnv())
  assert.is(missingDid.code, 1)
  assert.is(missingDid.json().error, 'AccountNotFound')
  const wrong = await carrel(['account', 'takedown', 'alice.test', '--json'], serverEnv({ PDS_ADMIN_PASSWORD: 'not-the-admin-password' }))
  assert.is(wrong.code, 1)
  assert.is(wrong.json().error, 'AuthenticationRequired')
  const info = await carrel(['account', 'info', 'alice.test', '--json'], serverEnv())
  assert.is(info.json().status, 'active', 'nothing changed')
  const unknown = await carrel(['frobnicate'], serverEnv())
  assert.is(unknown.code, 2)
  assert.match(unknown.stderr, /unknown command/)
  const noServer = await carrel(['account', 'list', '--url', 'http://127.0.0.1:9'], serverEnv())
  assert.is(noServer.code, 4)
  const help = await carrel(['--help'], serverEnv())
  assert.is(help.code, 0)
  assert.match(help.stdout, /Exit codes/)
})

test('commands on the data directory are refused while the server runs on it (exit 4), and change nothing', async () => {
  for (const args of [['db', 'check'], ['reindex'], ['account', 'list', '--data-dir', net.dataDir]]) {
    const r = await carrel([...args, '--json'], serverEnv())
    assert.is(r.code, 4, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.json().message, /in use/)
  }
  assert.is((await rawXrpc(net.url, '_health')).status, 200)
})

test('with the server stopped: the same commands on the data directory, and the server serves what they did', async () => {
  const frank = await net.createAccount('frank')
  await seedRepo(frank.agent, frank.did, 'frank')
  const port = net.pds.http.port
  await net.pds.close()
  const env = serverEnv({ PDS_PORT: String(port) })

  const list = await carrel(['account', 'list', '--json'], env)
  assert.is(list.code, 0, list.stderr)
  assert.ok(list.json().accounts.some((a: { handle: string }) => a.handle === 'frank.test'))
  const down = await carrel(['account', 'takedown', 'frank.test', '--json'], env)
  assert.is(down.code, 0, down.stderr)
  assert.is(down.json().status, 'takendown')
  const code = await carrel(['invite', 'create', '--uses', '2', '--json'], env)
  assert.is(code.code, 0, code.stderr)
  const check = await carrel(['db', 'check', '--json'], env)
  assert.is(check.code, 0, check.stderr)
  assert.is(check.json().ok, true)
  assert.ok(check.json().repos >= 5)
  const reindex = await carrel(['reindex', '--json'], env)
  assert.is(reindex.code, 0, reindex.stderr)
  // every index is rebuilt, the app updates' tables too (as `npm run reindex` does)
  assert.equal(Object.keys(reindex.json().records).sort(), ['library', 'updates'])
  // offline export: a taken-down account's repo too (the sync API does not serve it)
  const file = join(net.dataDir, 'offline-export-test.car')
  const exported = await carrel(['export', 'frank.test', file, '--json'], env)
  assert.is(exported.code, 0, exported.stderr)
  const { root } = await readCarWithRoot(readFileSync(file))
  const created = await carrel(['account', 'create', 'offline.test', 'offline@mail.test', '--json'], env)
  assert.is(created.code, 0, created.stderr)

  await net.restart()
  await new AtpAgent({ service: net.url }).login({ identifier: 'offline.test', password: created.json().password })
  const status = await rawXrpc(net.url, 'com.atproto.sync.getRepoStatus', { params: { did: frank.did } })
  assert.is(status.body.status, 'takendown')
  const codes = await rawXrpc(net.url, 'com.atproto.admin.getInviteCodes', { params: { limit: '500' }, authorization: ADMIN_AUTH })
  assert.is(codes.body.codes.find((c: { code: string }) => c.code === code.json().code)?.available, 2)
  // the offline export is the repo the server serves once the takedown is lifted
  const lifted = await carrel(['account', 'untakedown', 'frank.test'], serverEnv())
  assert.is(lifted.code, 0, lifted.stderr)
  assert.is(root.toString(), (await rawXrpc(net.url, 'com.atproto.sync.getLatestCommit', { params: { did: frank.did } })).body.cid)
})

test('db check finds a block whose bytes were changed in the database (exit 3, names repo and block)', async () => {
  const gina = await net.createAccount('gina')
  const seeded = await seedRepo(gina.agent, gina.did, 'gina')
  const record = await rawXrpc(net.url, 'com.atproto.repo.getRecord', {
    params: { repo: gina.did, collection: seeded.recordUris[0]!.split('/')[3]!, rkey: seeded.rkeys[0]! },
  })
  const cid = record.body.cid as string
  const port = net.pds.http.port
  await net.pds.close()
  const sqlite = new Database(join(net.dataDir, 'carrel.sqlite'))
  const before = sqlite.prepare('SELECT content FROM repo_block WHERE did = ? AND cid = ?').pluck().get(gina.did, cid) as Buffer
  const corrupted = Buffer.from(before)
  corrupted[corrupted.length - 1] ^= 0x01
  assert.is(sqlite.prepare('UPDATE repo_block SET content = ? WHERE did = ? AND cid = ?').run(corrupted, gina.did, cid).changes, 1)
  sqlite.close()

  const env = serverEnv({ PDS_PORT: String(port) })
  const r = await carrel(['db', 'check', '--json'], env)
  assert.is(r.code, 3, r.stderr)
  const report = r.json()
  assert.is(report.ok, false)
  const fault = report.faults.find((f: { where: string }) => f.where === `${gina.did} block ${cid}`)
  assert.ok(fault, JSON.stringify(report.faults))
  assert.match(fault.what, /do not match the CID/)
  const human = await carrel(['db', 'check'], env)
  assert.is(human.code, 3)
  assert.match(human.stdout, new RegExp(`FAULT ${gina.did} block ${cid}`))

  // put back: the check passes again
  const fix = new Database(join(net.dataDir, 'carrel.sqlite'))
  fix.prepare('UPDATE repo_block SET content = ? WHERE did = ? AND cid = ?').run(before, gina.did, cid)
  fix.close()
  const clean = await carrel(['db', 'check', '--json'], env)
  assert.is(clean.code, 0, clean.stdout)
  await net.restart()
})

test.run()
