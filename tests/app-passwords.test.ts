// App passwords: createAppPassword / listAppPasswords / revokeAppPassword, login with one (a
// session scoped as the reference scopes it, kept on refresh), what such a session may not do,
// the verifier's access levels, and revocation ending its sessions at once.
import type { IncomingMessage } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { decodeJwt } from 'jose'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectError, expectXrpcError, rawXrpc } from './_util.ts'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string; handle: string; password: string }

const APP_PASSWORD_RE = /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const login = (identifier: string, password: string) => call('com.atproto.server.createSession', { body: { identifier, password } })
const refresh = (token: string) => call('com.atproto.server.refreshSession', { token, method: 'POST' })

async function listNames(agent: AtpAgent): Promise<string[]> {
  const res = await agent.com.atproto.server.listAppPasswords()
  return res.data.passwords.map((p) => p.name).sort()
}

async function createRecord(token: string, did: string, text: string) {
  return call('com.atproto.repo.createRecord', {
    token,
    body: { repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() } },
  })
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('alice')
})

test.after(async () => {
  await net?.close()
})

test('createAppPassword: a secret in the reference shape, shown once; list never shows it, nor does the database hold it', async () => {
  const created = await alice.agent.com.atproto.server.createAppPassword({ name: 'phone' })
  assert.is(created.data.name, 'phone')
  assert.match(created.data.password, APP_PASSWORD_RE)
  assert.is(created.data.privileged, false)
  assert.ok(Math.abs(Date.parse(created.data.createdAt) - Date.now()) < 60_000, created.data.createdAt)
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'desktop', privileged: true })
  assert.is(privileged.data.privileged, true)

  const listed = await call('com.atproto.server.listAppPasswords', { token: alice.agent.session!.accessJwt })
  assert.is(listed.status, 200)
  const byName = Object.fromEntries(listed.body.passwords.map((p: any) => [p.name, p]))
  assert.equal(Object.keys(byName).sort(), ['desktop', 'phone'])
  assert.equal(byName.phone, { name: 'phone', createdAt: created.data.createdAt, privileged: false })
  assert.is(byName.desktop.privileged, true)
  const text = JSON.stringify(listed.body)
  assert.not.ok(text.includes(created.data.password) || text.includes(privileged.data.password), 'a secret in the list')
  assert.ok(listed.body.passwords.every((p: any) => !('password' in p)))

  const rows = net.pds.ctx.db.sqlite.prepare('SELECT * FROM app_password WHERE did = ?').all(alice.did)
  assert.is(rows.length, 2)
  assert.not.ok(JSON.stringify(rows).includes(created.data.password), 'the secret is stored as it is')
  assert.not.ok(JSON.stringify(rows).includes(created.data.password.replace(/-/g, '')))
})

test('createAppPassword: a taken name, an empty or overlong name are 400 and create nothing', async () => {
  const before = await listNames(alice.agent)
  const token = alice.agent.session!.accessJwt
  expectError(await call('com.atproto.server.createAppPassword', { token, body: { name: 'phone' } }), 400, 'InvalidRequest', /already exists/)
  expectError(await call('com.atproto.server.createAppPassword', { token, body: { name: '   ' } }), 400, 'InvalidRequest')
  expectError(await call('com.atproto.server.createAppPassword', { token, body: { name: 'x'.repeat(101) } }), 400, 'InvalidRequest')
  expectError(await call('com.atproto.server.createAppPassword', { token, body: {} }), 400, 'InvalidRequest')
  assert.equal(await listNames(alice.agent), before)
})

test('login with an app password: the session is scoped (com.atproto.appPass / appPassPrivileged) and refresh keeps the scope', async () => {
  const standard = await alice.agent.com.atproto.server.createAppPassword({ name: 'scoped-standard' })
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'scoped-privileged', privileged: true })
  for (const [secret, scope] of [
    [standard.data.password, 'com.atproto.appPass'],
    [privileged.data.password, 'com.atproto.appPassPrivileged'],
  ] as const) {
    const session = await login(alice.handle, secret)
    assert.is(session.status, 200, JSON.stringify(session.body))
    assert.is(session.body.did, alice.did)
    assert.is(decodeJwt(session.body.accessJwt).scope, scope)
    assert.is(decodeJwt(session.body.refreshJwt).scope, 'com.atproto.refresh')
    // twice, so that the rotated token's successor is checked too
    let refreshJwt = session.body.refreshJwt
    for (let i = 0; i < 2; i++) {
      const refreshed = await refresh(refreshJwt)
      assert.is(refreshed.status, 200, JSON.stringify(refreshed.body))
      assert.is(decodeJwt(refreshed.body.accessJwt).scope, scope, `refresh ${i + 1}`)
      refreshJwt = refreshed.body.refreshJwt
      // an app password's session writes records like any other
      const written = await createRecord(refreshed.body.accessJwt, alice.did, `from ${scope}`)
      assert.is(written.status, 200, JSON.stringify(written.body))
    }
  }
  // the account's own password still gives a full session
  const own = await login(alice.handle, alice.password)
  assert.is(decodeJwt(own.body.accessJwt).scope, 'com.atproto.access')
})

test('login with an app password through @atproto/api, with its identifier as DID or email', async () => {
  const created = await alice.agent.com.atproto.server.createAppPassword({ name: 'client' })
  for (const identifier of [alice.did, `${alice.handle}@mail.test`]) {
    const agent = new AtpAgent({ service: net.url })
    await agent.login({ identifier, password: created.data.password })
    assert.is(agent.session?.did, alice.did)
    assert.is(decodeJwt(agent.session!.accessJwt).scope, 'com.atproto.appPass')
    const me = await agent.com.atproto.server.getSession()
    assert.is(me.data.handle, alice.handle)
  }
})

test('an app-password session may not manage app passwords, change the handle, sign PLC operations, deactivate, activate or request deletion: 400 InvalidToken, nothing changed', async () => {
  const standard = await alice.agent.com.atproto.server.createAppPassword({ name: 'limited' })
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'limited-privileged', privileged: true })
  const before = await listNames(alice.agent)
  for (const secret of [standard.data.password, privileged.data.password]) {
    const token = (await login(alice.handle, secret)).body.accessJwt
    const refused: [string, unknown][] = [
      ['com.atproto.server.createAppPassword', { name: 'sneaky' }],
      ['com.atproto.server.listAppPasswords', undefined],
      ['com.atproto.server.revokeAppPassword', { name: 'phone' }],
      ['com.atproto.server.deactivateAccount', {}],
      ['com.atproto.server.activateAccount', undefined],
      ['com.atproto.server.requestAccountDelete', undefined],
      ['com.atproto.identity.updateHandle', { handle: 'sneaky.test' }],
      ['com.atproto.identity.requestPlcOperationSignature', undefined],
      ['com.atproto.identity.signPlcOperation', { token: 'AAAAA-AAAAA' }],
      ['com.atproto.identity.submitPlcOperation', { operation: {} }],
    ]
    for (const [nsid, body] of refused) {
      const method = nsid.endsWith('listAppPasswords') ? 'GET' : 'POST'
      expectError(await call(nsid, { token, body, method }), 400, 'InvalidToken', /Bad token scope/)
    }
  }
  assert.equal(await listNames(alice.agent), before)
  assert.is(net.pds.ctx.accounts.getByDid(alice.did)!.handle, alice.handle)
  const status = await alice.agent.com.atproto.server.checkAccountStatus()
  assert.is(status.data.activated, true)
  assert.equal(net.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account_token WHERE did = ?').get(alice.did), { n: 0 })
  // nor delete the account with the app password as its password
  const deletion = await call('com.atproto.server.deleteAccount', {
    body: { did: alice.did, password: standard.data.password, token: 'AAAAA-AAAAA' },
  })
  expectError(deletion, 401, 'AuthenticationRequired')
  assert.ok(net.pds.ctx.accounts.getByDid(alice.did))
})

test('access levels for the other handlers: accessFull = own password only, accessPrivileged adds privileged app passwords', async () => {
  const standard = await alice.agent.com.atproto.server.createAppPassword({ name: 'levels-standard' })
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'levels-privileged', privileged: true })
  const tokens = {
    full: (await login(alice.handle, alice.password)).body.accessJwt as string,
    privileged: (await login(alice.handle, privileged.data.password)).body.accessJwt as string,
    standard: (await login(alice.handle, standard.data.password)).body.accessJwt as string,
  }
  const { auth } = net.pds.ctx
  const request = (token: string) => ({ req: { headers: { authorization: `Bearer ${token}` } } as IncomingMessage })
  const outcome = async (level: (ctx: { req: IncomingMessage }) => Promise<{ credentials: { did: string; scope: string } }>, token: string) => {
    try {
      const out = await level(request(token))
      assert.is(out.credentials.did, alice.did)
      return out.credentials.scope
    } catch (err: any) {
      return `${err.type} ${err.customErrorName}`
    }
  }
  assert.equal(
    {
      full: [await outcome(auth.accessFull, tokens.full), await outcome(auth.accessFull, tokens.privileged), await outcome(auth.accessFull, tokens.standard)],
      privileged: [
        await outcome(auth.accessPrivileged, tokens.full),
        await outcome(auth.accessPrivileged, tokens.privileged),
        await outcome(auth.accessPrivileged, tokens.standard),
      ],
      standard: [
        await outcome(auth.accessStandard, tokens.full),
        await outcome(auth.accessStandard, tokens.privileged),
        await outcome(auth.accessStandard, tokens.standard),
      ],
    },
    {
      full: ['com.atproto.access', '400 InvalidToken', '400 InvalidToken'],
      privileged: ['com.atproto.access', 'com.atproto.appPassPrivileged', '400 InvalidToken'],
      standard: ['com.atproto.access', 'com.atproto.appPassPrivileged', 'com.atproto.appPass'],
    },
  )
})

test('revokeAppPassword ends its sessions at once: access token ExpiredToken, refresh ExpiredToken, login refused; other sessions go on', async () => {
  const doomed = await alice.agent.com.atproto.server.createAppPassword({ name: 'doomed' })
  const kept = await alice.agent.com.atproto.server.createAppPassword({ name: 'kept' })
  const doomedSession = (await login(alice.handle, doomed.data.password)).body
  const keptSession = (await login(alice.handle, kept.data.password)).body
  const agent = new AtpAgent({ service: net.url })
  await agent.login({ identifier: alice.handle, password: doomed.data.password })
  assert.is((await createRecord(doomedSession.accessJwt, alice.did, 'before')).status, 200)

  await alice.agent.com.atproto.server.revokeAppPassword({ name: 'doomed' })
  assert.not.ok((await listNames(alice.agent)).includes('doomed'))

  expectError(await createRecord(doomedSession.accessJwt, alice.did, 'after'), 400, 'ExpiredToken', /revoked/)
  expectError(await call('com.atproto.server.getSession', { token: doomedSession.accessJwt }), 400, 'ExpiredToken')
  expectError(await refresh(doomedSession.refreshJwt), 400, 'ExpiredToken')
  expectError(await login(alice.handle, doomed.data.password), 401, 'AuthenticationRequired')
  // a client: its refresh fails too, so the call fails
  await expectXrpcError(() => agent.com.atproto.server.getSession(), 400, 'ExpiredToken')
  assert.equal(net.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM refresh_token WHERE app_password_id IS NOT NULL AND app_password_id NOT IN (SELECT id FROM app_password)').get(), { n: 0 })

  assert.is((await createRecord(keptSession.accessJwt, alice.did, 'kept')).status, 200)
  assert.is((await refresh(keptSession.refreshJwt)).status, 200)
  assert.is((await alice.agent.com.atproto.server.getSession()).data.did, alice.did)

  // a new app password of the same name does not bring the old sessions back
  await alice.agent.com.atproto.server.createAppPassword({ name: 'doomed' })
  expectError(await call('com.atproto.server.getSession', { token: doomedSession.accessJwt }), 400, 'ExpiredToken')
  // revoking a name that does not exist is not an error (as in the reference)
  await alice.agent.com.atproto.server.revokeAppPassword({ name: 'never-existed' })
})

test('a taken-down account: app passwords cannot be made or listed (401 AccountTakedown), nor log in', async () => {
  const bob = await net.createAccount('bob-takedown')
  const pw = await bob.agent.com.atproto.server.createAppPassword({ name: 'before' })
  net.pds.ctx.accounts.setTakedown(bob.did, 'test-takedown')
  try {
    const token = bob.agent.session!.accessJwt
    expectError(await call('com.atproto.server.createAppPassword', { token, body: { name: 'after' } }), 401, 'AccountTakedown')
    expectError(await call('com.atproto.server.listAppPasswords', { token }), 401, 'AccountTakedown')
    expectError(await call('com.atproto.server.revokeAppPassword', { token, body: { name: 'before' } }), 401, 'AccountTakedown')
    expectError(await login(bob.handle, pw.data.password), 401, 'AuthenticationRequired')
    assert.equal(
      net.pds.ctx.db.sqlite.prepare('SELECT name FROM app_password WHERE did = ?').all(bob.did),
      [{ name: 'before' }],
    )
  } finally {
    net.pds.ctx.accounts.setTakedown(bob.did, null)
  }
})

test('app passwords are per account: another account cannot log in with them nor see or revoke them', async () => {
  const carol = await net.createAccount('carol')
  const mine = await alice.agent.com.atproto.server.createAppPassword({ name: 'alice-only' })
  expectError(await login(carol.handle, mine.data.password), 401, 'AuthenticationRequired')
  assert.not.ok((await listNames(carol.agent)).includes('alice-only'))
  await carol.agent.com.atproto.server.revokeAppPassword({ name: 'alice-only' })
  assert.ok((await listNames(alice.agent)).includes('alice-only'))
  assert.is((await login(alice.handle, mine.data.password)).status, 200)
})

test('without a token: 401 AuthMissing', async () => {
  expectError(await call('com.atproto.server.createAppPassword', { body: { name: 'x' } }), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.listAppPasswords'), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.revokeAppPassword', { body: { name: 'x' } }), 401, 'AuthMissing')
})

test.run()
