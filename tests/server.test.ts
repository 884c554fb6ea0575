// com.atproto.server.describeServer / createAccount / createInviteCode, through a real client
// against a real server and a real PLC directory.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { XRPCError } from '@atproto/xrpc'
import { SigningKey } from '../src/repo/signing-key.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc } from './_util.ts'

let net: TestNetwork
let inviteNet: TestNetwork

const call = rawXrpc

const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64')

function accountCount(n: TestNetwork): number {
  return (n.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account').get() as { n: number }).n
}

test.before(async () => {
  net = await startNetwork()
  inviteNet = await startNetwork({
    PDS_INVITE_REQUIRED: 'true',
    PDS_CONTACT_EMAIL_ADDRESS: 'admin@carrel.test',
    PDS_PRIVACY_POLICY_URL: 'https://carrel.test/privacy',
    PDS_TERMS_OF_SERVICE_URL: 'https://carrel.test/tos',
  })
})

test.after(async () => {
  await net?.close()
  await inviteNet?.close()
})

test('describeServer: defaults in embedded/dev mode', async () => {
  const res = await net.agent().com.atproto.server.describeServer()
  assert.is(res.data.did, 'did:web:localhost')
  assert.equal(res.data.availableUserDomains, ['.test'])
  assert.is(res.data.inviteCodeRequired, false)
  assert.is(res.data.links, undefined)
  assert.is(res.data.contact, undefined)
})

test('describeServer: links, contact and invite requirement when configured', async () => {
  const res = await inviteNet.agent().com.atproto.server.describeServer()
  assert.is(res.data.inviteCodeRequired, true)
  assert.equal(res.data.links, { privacyPolicy: 'https://carrel.test/privacy', termsOfService: 'https://carrel.test/tos' })
  assert.equal(res.data.contact, { email: 'admin@carrel.test' })
})

test('createAccount: creates a did:plc, the repo, a session, and the firehose events', async () => {
  const agent = net.agent()
  const res = await agent.createAccount({ handle: 'Alice.TEST', email: 'Alice@Mail.test', password: 'hunter2hunter2' })
  assert.match(res.data.did, /^did:plc:[a-z2-7]{24}$/)
  assert.is(res.data.handle, 'alice.test')
  assert.type(res.data.accessJwt, 'string')
  assert.type(res.data.refreshJwt, 'string')
  assert.is((res.data.didDoc as { id: string }).id, res.data.did)
  // the client is logged in with the returned session
  const session = await agent.com.atproto.server.getSession()
  assert.is(session.data.did, res.data.did)
  assert.is(session.data.email, 'alice@mail.test')
  assert.is(session.data.active, true)
  // the repo exists, with its first commit
  const root = net.pds.ctx.db.sqlite.prepare('SELECT rev FROM repo_root WHERE did = ?').get(res.data.did)
  assert.ok(root, 'repo root stored')
  const events = net.pds.ctx.db.sqlite
    .prepare('SELECT event_type FROM repo_seq WHERE did = ? ORDER BY seq')
    .all(res.data.did)
    .map((r: any) => r.event_type)
  assert.equal(events, ['#identity', '#account', '#commit', '#sync'])
})

test('createAccount: the DID document in PLC has the signing key, handle, endpoint and rotation key', async () => {
  const { did, handle } = await net.createAccount('doccheck')
  const ident = await net.pds.ctx.identity.didResolver.resolveAtproto(did)
  assert.ok(ident)
  const row = net.pds.ctx.accounts.getByDid(did)!
  const key = await SigningKey.fromPrivateKey(new Uint8Array(row.signing_key))
  assert.is(ident.signingKey, key.did())
  assert.is(ident.handle, handle)
  assert.is(ident.pds, net.pds.url)
  assert.is(net.pds.cfg.publicUrl, net.pds.url)
  const data = (await (await fetch(`${net.plc.url}/${did}/data`)).json()) as any
  const rotationKey = await net.pds.ctx.identity.plcRotationKey()
  assert.ok(data.rotationKeys.includes(rotationKey.did()))
  assert.equal(data.alsoKnownAs, [`at://${handle}`])
})

async function expectCreateError(
  n: TestNetwork,
  body: Record<string, unknown>,
  status: number,
  error: string,
): Promise<void> {
  const before = accountCount(n)
  const res = await call(n.url, 'com.atproto.server.createAccount', { body })
  assert.is(res.status, status, `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`)
  assert.is(res.body.error, error, `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`)
  assert.type(res.body.message, 'string')
  assert.is(accountCount(n), before, 'no account created')
  if (typeof body.handle === 'string') {
    const h = body.handle.toLowerCase()
    if (h !== 'taken.test') assert.is(n.pds.ctx.accounts.getByHandle(h), undefined)
  }
}

test('createAccount: HandleNotAvailable for a taken, reserved or handle.invalid handle', async () => {
  await net.agent().createAccount({ handle: 'taken.test', email: 'taken@mail.test', password: 'password123' })
  await expectCreateError(net, { handle: 'taken.test', email: 'other1@mail.test', password: 'password123' }, 400, 'HandleNotAvailable')
  await expectCreateError(net, { handle: 'TAKEN.test', email: 'other2@mail.test', password: 'password123' }, 400, 'HandleNotAvailable')
  await expectCreateError(net, { handle: 'handle.invalid', email: 'other3@mail.test', password: 'password123' }, 400, 'HandleNotAvailable')
  await expectCreateError(net, { handle: 'admin.test', email: 'other4@mail.test', password: 'password123' }, 400, 'HandleNotAvailable')
})

test('createAccount: InvalidHandle for bad syntax, a reserved TLD or a bad name', async () => {
  const base = { email: 'h@mail.test', password: 'password123' }
  for (const handle of ['bad_handle.test', '-dash.test', 'someone.example', 'ab.test', 'a.b.test', 'waytoolongforahandle123.test']) {
    await expectCreateError(net, { ...base, handle }, 400, 'InvalidHandle')
  }
})

test('createAccount: UnsupportedDomain for a valid handle on a domain this server does not serve', async () => {
  const base = { email: 'h@mail.test', password: 'password123' }
  for (const handle of ['carol.com', 'bob.bsky.social', 'dave.example.org']) {
    await expectCreateError(net, { ...base, handle }, 400, 'UnsupportedDomain')
  }
  // the typed client sees the error name the lexicon declares
  try {
    await net.agent().createAccount({ handle: 'erin.com', email: 'erin@mail.test', password: 'password123' })
    assert.unreachable('created an account on a foreign domain')
  } catch (err) {
    assert.is((err as XRPCError).error, 'UnsupportedDomain')
  }
})

test('createAccount: limited per client IP (100 attempts in 5 minutes, as the reference); nothing is created past it', async () => {
  const plcOps = async () => ((await (await fetch(`${net.plc.url}/export?count=1000`)).text()).split('\n').filter(Boolean).length)
  const ip = '198.51.100.77'
  const attempt = (handle: string, email: string | undefined, from = ip) =>
    fetch(`${net.url}/xrpc/com.atproto.server.createAccount`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({ handle, email, password: 'password123' }),
    })
  // a burst of 100 attempts (each refused for a missing email, the cheapest failure) uses up the allowance
  const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => attempt(`burst${i}.test`, undefined)))
  assert.equal([...new Set(burst.map((r) => r.status))], [400])
  const accountsBefore = accountCount(net)
  const opsBefore = await plcOps()
  const refused = await attempt('afterburst.test', 'afterburst@mail.test')
  assert.is(refused.status, 429)
  assert.is(((await refused.json()) as any).error, 'RateLimitExceeded')
  const retryAfter = Number(refused.headers.get('retry-after'))
  assert.ok(retryAfter > 0 && retryAfter <= 300, `Retry-After ${retryAfter}`)
  // nothing was created: no account, no DID operation signed with the server's key
  assert.is(accountCount(net), accountsBefore)
  assert.is(await plcOps(), opsBefore)
  assert.is(net.pds.ctx.accounts.getByHandle('afterburst.test'), undefined)
  // another client is not affected
  const other = await attempt('otherclient.test', 'otherclient@mail.test', '198.51.100.78')
  assert.is(other.status, 200)
})

test('createAccount: InvalidRequest for missing/short password, bad/missing/taken email', async () => {
  await expectCreateError(net, { handle: 'nopass.test', email: 'np@mail.test' }, 400, 'InvalidRequest')
  await expectCreateError(net, { handle: 'shortpw.test', email: 'sp@mail.test', password: '1234567' }, 400, 'InvalidRequest')
  await expectCreateError(net, { handle: 'bademail.test', email: 'not-an-email', password: 'password123' }, 400, 'InvalidRequest')
  await expectCreateError(net, { handle: 'noemail.test', password: 'password123' }, 400, 'InvalidRequest')
  // alice@mail.test is taken (emails are case-insensitive)
  await expectCreateError(net, { handle: 'alice2.test', email: 'ALICE@mail.test', password: 'password123' }, 400, 'InvalidRequest')
  // a password of exactly 8 characters is enough
  const ok = await call(net.url, 'com.atproto.server.createAccount', {
    body: { handle: 'eightpw.test', email: 'eight@mail.test', password: '12345678' },
  })
  assert.is(ok.status, 200)
})

test('createAccount: two concurrent requests for one handle, exactly one wins', async () => {
  const before = accountCount(net)
  const results = await Promise.all(
    [1, 2].map((i) =>
      call(net.url, 'com.atproto.server.createAccount', {
        body: { handle: 'racer.test', email: `racer${i}@mail.test`, password: 'password123' },
      }),
    ),
  )
  const statuses = results.map((r) => r.status).sort()
  assert.equal(statuses, [200, 400])
  assert.is(results.find((r) => r.status === 400)!.body.error, 'HandleNotAvailable')
  assert.is(accountCount(net), before + 1)
})

test('createAccount via the client: errors surface with their names', async () => {
  try {
    await net.agent().createAccount({ handle: 'taken.test', email: 'x@mail.test', password: 'password123' })
    assert.unreachable('should have failed')
  } catch (err) {
    assert.instance(err, XRPCError)
    assert.is((err as XRPCError).status, 400)
    assert.is((err as XRPCError).error, 'HandleNotAvailable')
  }
})

test('createInviteCode: admin Basic auth required', async () => {
  const body = { useCount: 1 }
  const none = await call(inviteNet.url, 'com.atproto.server.createInviteCode', { body })
  assert.is(none.status, 401)
  assert.is(none.body.error, 'AuthMissing')
  const wrong = await call(inviteNet.url, 'com.atproto.server.createInviteCode', { body, authorization: basic('admin', 'nope') })
  assert.is(wrong.status, 401)
  assert.is(wrong.body.error, 'AuthenticationRequired')
  const bearer = await call(inviteNet.url, 'com.atproto.server.createInviteCode', { body, authorization: 'Bearer admin-password-for-tests' })
  assert.is(bearer.status, 401)
  const ok = await call(inviteNet.url, 'com.atproto.server.createInviteCode', { body, authorization: basic('admin', 'admin-password-for-tests') })
  assert.is(ok.status, 200)
  assert.match(ok.body.code, /^localhost-[a-z2-7]{5}-[a-z2-7]{5}$/)
  const zero = await call(inviteNet.url, 'com.atproto.server.createInviteCode', {
    body: { useCount: 0 },
    authorization: basic('admin', 'admin-password-for-tests'),
  })
  assert.is(zero.status, 400)
})

test('invite codes: required, checked, and used up', async () => {
  const admin = basic('admin', 'admin-password-for-tests')
  const code = (await call(inviteNet.url, 'com.atproto.server.createInviteCode', { body: { useCount: 2 }, authorization: admin }))
    .body.code as string
  const acct = (name: string, inviteCode?: string) => ({
    handle: `${name}.test`,
    email: `${name}@mail.test`,
    password: 'password123',
    ...(inviteCode !== undefined ? { inviteCode } : {}),
  })
  await expectCreateError(inviteNet, acct('noinvite'), 400, 'InvalidInviteCode')
  await expectCreateError(inviteNet, acct('badinvite', 'localhost-aaaaa-bbbbb'), 400, 'InvalidInviteCode')
  const first = await inviteNet.agent().createAccount(acct('invited1', code))
  assert.match(first.data.did, /^did:plc:/)
  const second = await call(inviteNet.url, 'com.atproto.server.createAccount', { body: acct('invited2', code) })
  assert.is(second.status, 200)
  // two uses: the third is refused
  await expectCreateError(inviteNet, acct('invited3', code), 400, 'InvalidInviteCode')
  const uses = inviteNet.pds.ctx.db.sqlite.prepare('SELECT used_by FROM invite_code_use WHERE code = ?').all(code)
  assert.is(uses.length, 2)
})

test('createAccount with an existing DID but no service-auth token from it: 401, nothing created', async () => {
  // (with one: tests/migration.test.ts, tests/service-auth.test.ts)
  await expectCreateError(
    net,
    { handle: 'importer.test', email: 'imp@mail.test', password: 'password123', did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' },
    401,
    'AuthenticationRequired',
  )
})

test.run()
