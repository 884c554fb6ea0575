// Sessions and tokens: createSession / getSession / refreshSession / deleteSession, the exact
// error names clients depend on, refresh-token rotation with a grace period, login rate limits.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SignJWT, UnsecuredJWT, decodeJwt, decodeProtectedHeader } from 'jose'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc, type RawResponse } from './_util.ts'

const GRACE_MS = 1500
let net: TestNetwork
let alice: { did: string; handle: string; password: string }

type Res = RawResponse

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}): Promise<Res> => rawXrpc(net.url, nsid, opts)

const login = (identifier: string, password: string, ip?: string) =>
  call('com.atproto.server.createSession', { body: { identifier, password }, ip })
const getSession = (token?: string) => call('com.atproto.server.getSession', { token })
const refresh = (token: string) => call('com.atproto.server.refreshSession', { token, method: 'POST' })
const logout = (token: string) => call('com.atproto.server.deleteSession', { token, method: 'POST' })

function expectError(res: Res, status: number, error: string) {
  assert.is(res.status, status, JSON.stringify(res.body))
  assert.is(res.body.error, error, JSON.stringify(res.body))
}

const secret = () => new TextEncoder().encode(net.env.PDS_JWT_SECRET)

test.before(async () => {
  net = await startNetwork({ PDS_REFRESH_TOKEN_GRACE_MS: String(GRACE_MS), PDS_LOGIN_RATE_LIMIT_ACCOUNT_CEILING: '25' })
  const a = await net.createAccount('alice')
  alice = { did: a.did, handle: a.handle, password: a.password }
})

test.after(async () => {
  await net?.close()
})

test('createSession with handle, email and DID', async () => {
  for (const identifier of [alice.handle, alice.handle.toUpperCase(), `${alice.handle}@mail.test`, alice.did]) {
    const res = await login(identifier, alice.password)
    assert.is(res.status, 200, identifier)
    assert.is(res.body.did, alice.did)
    assert.is(res.body.handle, alice.handle)
    assert.is(res.body.email, `${alice.handle}@mail.test`)
    assert.is(res.body.active, true)
    assert.is(res.body.status, undefined)
    const me = await getSession(res.body.accessJwt)
    assert.is(me.status, 200)
    assert.is(me.body.did, alice.did)
  }
})

test('tokens: HS256 JWTs with the typ, scope, aud and lifetimes of the reference', async () => {
  const res = await login(alice.handle, alice.password)
  const access = decodeJwt(res.body.accessJwt)
  assert.equal(decodeProtectedHeader(res.body.accessJwt), { alg: 'HS256', typ: 'at+jwt' })
  assert.is(access.scope, 'com.atproto.access')
  assert.is(access.sub, alice.did)
  assert.is(access.aud, 'did:web:localhost')
  assert.is(access.exp! - access.iat!, 2 * 60 * 60)
  const rt = decodeJwt(res.body.refreshJwt)
  assert.equal(decodeProtectedHeader(res.body.refreshJwt), { alg: 'HS256', typ: 'refresh+jwt' })
  assert.is(rt.scope, 'com.atproto.refresh')
  assert.type(rt.jti, 'string')
  assert.is(rt.exp! - rt.iat!, 90 * 24 * 60 * 60)
  // the refresh token is stored (revocable); the password is not stored in clear
  assert.ok(net.pds.ctx.sessions.get(rt.jti!))
  const row = net.pds.ctx.accounts.getByDid(alice.did)!
  assert.not.ok(row.password_hash.includes(alice.password))
  assert.match(row.password_hash, /^scrypt\$/)
})

test('wrong password or unknown identifier: 401 AuthenticationRequired', async () => {
  const wrong = await login(alice.handle, 'not the password')
  expectError(wrong, 401, 'AuthenticationRequired')
  assert.is(wrong.body.message, 'Invalid identifier or password')
  const unknown = await login('nobody.test', alice.password)
  expectError(unknown, 401, 'AuthenticationRequired')
  assert.is(unknown.body.message, 'Invalid identifier or password')
  expectError(await login('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', alice.password), 401, 'AuthenticationRequired')
})

test('no token: 401 AuthMissing', async () => {
  expectError(await getSession(), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.getSession', { authorization: 'Basic YWRtaW46eA==' }), 401, 'AuthMissing')
  expectError(await call('com.atproto.server.refreshSession', { method: 'POST' }), 401, 'AuthMissing')
})

test('expired access token: 400 ExpiredToken; the client then refreshes by itself', async () => {
  const now = Math.floor(Date.now() / 1000)
  const expired = await new SignJWT({ scope: 'com.atproto.access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .setSubject(alice.did)
    .setAudience('did:web:localhost')
    .setIssuedAt(now - 7200)
    .setExpirationTime(now - 10)
    .sign(secret())
  expectError(await getSession(expired), 400, 'ExpiredToken')

  // @atproto/api refreshes on ExpiredToken and retries
  const agent = net.agent()
  const fresh = await login(alice.handle, alice.password)
  agent.sessionManager.session = {
    did: alice.did,
    handle: alice.handle,
    accessJwt: expired,
    refreshJwt: fresh.body.refreshJwt,
    active: true,
  }
  const me = await agent.com.atproto.server.getSession()
  assert.is(me.data.did, alice.did)
  assert.is.not(agent.session!.accessJwt, expired)
  assert.is.not(agent.session!.refreshJwt, fresh.body.refreshJwt)
})

test('garbage, forged, wrong-typ and wrong-audience tokens: 400 InvalidToken', async () => {
  const now = Math.floor(Date.now() / 1000)
  const claims = (b: SignJWT) => b.setSubject(alice.did).setAudience('did:web:localhost').setIssuedAt(now).setExpirationTime(now + 600)
  const forged = await claims(new SignJWT({ scope: 'com.atproto.access' }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })).sign(
    new TextEncoder().encode('some-other-secret'),
  )
  const wrongAud = await new SignJWT({ scope: 'com.atproto.access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .setSubject(alice.did)
    .setAudience('did:web:elsewhere.example')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(secret())
  const wrongScope = await claims(new SignJWT({ scope: 'com.atproto.appPass' }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })).sign(secret())
  const plainTyp = await claims(new SignJWT({ scope: 'com.atproto.access' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })).sign(secret())
  const unsigned = new UnsecuredJWT({ scope: 'com.atproto.access' })
    .setSubject(alice.did)
    .setAudience('did:web:localhost')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .encode()
  const { body: session } = await login(alice.handle, alice.password)
  const tampered = session.accessJwt.slice(0, -4) + (session.accessJwt.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  for (const [name, token] of Object.entries({
    garbage: 'not-a-jwt',
    dots: 'a.b.c',
    forged,
    wrongAud,
    wrongScope,
    plainTyp,
    unsigned,
    tampered,
    refreshAsAccess: session.refreshJwt,
  })) {
    const res = await getSession(token)
    assert.is(res.status, 400, `${name}: ${JSON.stringify(res.body)}`)
    assert.is(res.body.error, 'InvalidToken', name)
  }
  // and an access token where a refresh token is expected
  expectError(await refresh(session.accessJwt), 400, 'InvalidToken')
  expectError(await logout(session.accessJwt), 400, 'InvalidToken')
})

test('refreshSession rotates; the old token works only during the grace period', async () => {
  const { body: s1 } = await login(alice.handle, alice.password)
  const r1 = await refresh(s1.refreshJwt)
  assert.is(r1.status, 200, JSON.stringify(r1.body))
  assert.is(r1.body.did, alice.did)
  assert.is(r1.body.handle, alice.handle)
  assert.is(r1.body.active, true)
  const jti1 = decodeJwt(s1.refreshJwt).jti
  const jti2 = decodeJwt(r1.body.refreshJwt).jti
  assert.is.not(jti2, jti1)
  assert.is((await getSession(r1.body.accessJwt)).status, 200)

  // a retry with the old token inside the grace period gets the same successor back
  const retry = await refresh(s1.refreshJwt)
  assert.is(retry.status, 200)
  assert.is(decodeJwt(retry.body.refreshJwt).jti, jti2)

  await new Promise((r) => setTimeout(r, GRACE_MS + 300))
  expectError(await refresh(s1.refreshJwt), 400, 'ExpiredToken')
  // the successor still works, and rotates in turn
  const r2 = await refresh(r1.body.refreshJwt)
  assert.is(r2.status, 200)
  assert.is.not(decodeJwt(r2.body.refreshJwt).jti, jti2)
})

test('expired refresh token: 400 ExpiredToken', async () => {
  const { body: s } = await login(alice.handle, alice.password)
  const jti = decodeJwt(s.refreshJwt).jti!
  const now = Math.floor(Date.now() / 1000)
  const expired = await new SignJWT({ scope: 'com.atproto.refresh' })
    .setProtectedHeader({ alg: 'HS256', typ: 'refresh+jwt' })
    .setSubject(alice.did)
    .setAudience('did:web:localhost')
    .setJti(jti)
    .setIssuedAt(now - 100)
    .setExpirationTime(now - 1)
    .sign(secret())
  expectError(await refresh(expired), 400, 'ExpiredToken')
  // a well-signed refresh token whose id was never stored counts as revoked
  const unknown = await new SignJWT({ scope: 'com.atproto.refresh' })
    .setProtectedHeader({ alg: 'HS256', typ: 'refresh+jwt' })
    .setSubject(alice.did)
    .setAudience('did:web:localhost')
    .setJti('never-issued')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(secret())
  expectError(await refresh(unknown), 400, 'ExpiredToken')
})

test('deleteSession revokes the refresh token: then 400 ExpiredToken', async () => {
  const { body: s } = await login(alice.handle, alice.password)
  const out = await logout(s.refreshJwt)
  assert.is(out.status, 200, JSON.stringify(out.body))
  assert.is(net.pds.ctx.sessions.get(decodeJwt(s.refreshJwt).jti!), undefined)
  expectError(await refresh(s.refreshJwt), 400, 'ExpiredToken')
  expectError(await logout(s.refreshJwt), 400, 'ExpiredToken')
  // logging out the successor also ends the grace period of its predecessor
  const { body: s2 } = await login(alice.handle, alice.password)
  const rotated = await refresh(s2.refreshJwt)
  assert.is(rotated.status, 200)
  assert.is((await logout(rotated.body.refreshJwt)).status, 200)
  expectError(await refresh(s2.refreshJwt), 400, 'ExpiredToken')
  expectError(await refresh(rotated.body.refreshJwt), 400, 'ExpiredToken')
  // the client's logout goes through the same path
  const agent = net.agent()
  await agent.login({ identifier: alice.handle, password: alice.password })
  const rt = agent.session!.refreshJwt
  await agent.logout()
  expectError(await refresh(rt), 400, 'ExpiredToken')
})

test('rate limit: 200 concurrent wrong-password logins evaluate at most 10; the owner still logs in from another IP', async () => {
  const victim = await net.createAccount('victim')
  const ip = '198.51.100.10'
  // all sent at once: the attempts are counted before the password is hashed, so the burst
  // cannot slip past the limit while the first checks are still running
  const burst = await Promise.all(Array.from({ length: 200 }, () => login(victim.handle, 'wrong password!', ip)))
  const evaluated = burst.filter((r) => r.status === 401)
  const limited = burst.filter((r) => r.status === 429)
  assert.ok(evaluated.length <= 10, `${evaluated.length} attempts evaluated`)
  console.log(`[figure] 200 concurrent wrong-password logins: ${evaluated.length} evaluated, ${limited.length} refused with 429`)
  assert.is(evaluated.length + limited.length, 200)
  for (const r of evaluated) assert.is(r.body.error, 'AuthenticationRequired')
  for (const r of limited) {
    assert.is(r.body.error, 'RateLimitExceeded')
    const retryAfter = Number(r.headers.get('retry-after'))
    assert.ok(retryAfter > 0 && retryAfter <= 300, `Retry-After ${retryAfter}`)
  }
  // from the attacker's address even the right password is refused, however the account is named
  for (const identifier of [victim.handle, `${victim.handle}@mail.test`, victim.did]) {
    expectError(await login(identifier, victim.password, ip), 429, 'RateLimitExceeded')
  }
  // the owner, elsewhere, is not locked out by a stranger
  const owner = await login(victim.handle, victim.password, '198.51.100.11')
  assert.is(owner.status, 200, JSON.stringify(owner.body))
  // other accounts on the attacker's address are not affected
  assert.is((await login(alice.handle, alice.password, ip)).status, 200)
})

test('rate limit: guesses at one account from many IPs stop at the account ceiling', async () => {
  const target = await net.createAccount('target')
  // the ceiling is set to 25 for this test file; 5 addresses x 5 guesses reach it
  for (let a = 0; a < 5; a++) {
    const guesses = await Promise.all(Array.from({ length: 5 }, () => login(target.handle, 'wrong password!', `192.0.2.${a + 1}`)))
    for (const r of guesses) expectError(r, 401, 'AuthenticationRequired')
  }
  expectError(await login(target.handle, 'wrong password!', '192.0.2.99'), 429, 'RateLimitExceeded')
  expectError(await login(target.handle, target.password, '192.0.2.100'), 429, 'RateLimitExceeded')
  // a successful login does not count against it
  assert.is((await login(alice.handle, alice.password, '192.0.2.101')).status, 200)
})

test('rate limit: 30 failed logins per IP, then 429 for any account from that IP', async () => {
  const ip = '203.0.113.7'
  for (let i = 0; i < 30; i++) expectError(await login(`nobody${i}.test`, 'whatever123', ip), 401, 'AuthenticationRequired')
  const blocked = await login(alice.handle, alice.password, ip)
  expectError(blocked, 429, 'RateLimitExceeded')
  assert.ok(Number(blocked.headers.get('retry-after')) > 0)
  assert.is((await login(alice.handle, alice.password, '203.0.113.8')).status, 200)
})

test.run()
