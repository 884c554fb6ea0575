// Service auth: com.atproto.server.getServiceAuth (the token it makes, the reference's limits on
// `exp` and `lxm`) and createAccount with an existing DID, whose service-auth token must come from
// that DID's key, for this server and this method, unexpired. Every forged token is refused (401)
// with nothing created; the DID-path's own errors (UnresolvableDid, IncompatibleDidDoc, the handle
// and invite rules) through @atproto/api.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { ADMIN_AUTH } from './_admin.ts'
import { startPlc, type Plc } from './_harness.ts'
import { startPlcProxy } from './_plc-proxy.ts'
import { createKeylessDid, createOwnDid, customJwt, serviceToken, withHighS, type OwnDid } from './_own-did.ts'
import { startServer, stopServer, type Server } from './_servers.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

const HOME_DID = 'did:web:home-pds.carrel.test'
const DEST_DID = 'did:web:dest-pds.carrel.test'
const CREATE_ACCOUNT = 'com.atproto.server.createAccount'
const PASSWORD = 'correct horse battery staple'

let plc: Plc
let home: Server
let dest: Server
let alice: { agent: AtpAgent; did: string }

test.before(async () => {
  plc = await startPlc()
  home = await startServer(plc, HOME_DID)
  dest = await startServer(plc, DEST_DID, { PDS_INVITE_REQUIRED: 'true' })
  const agent = home.agent()
  const res = await agent.createAccount({ handle: 'alice.test', email: 'alice@mail.test', password: PASSWORD })
  alice = { agent, did: res.data.did }
})

test.after(async () => {
  await stopServer(home)
  await stopServer(dest)
  await plc?.close()
})

const now = () => Math.floor(Date.now() / 1000)

function decodeJwt(token: string): { header: any; payload: any; sig: Buffer; signingInput: Buffer } {
  const [h, p, s] = token.split('.') as [string, string, string]
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
    sig: Buffer.from(s, 'base64url'),
    signingInput: Buffer.from(`${h}.${p}`),
  }
}

async function docSigningKey(did: string): Promise<string> {
  const data = (await (await fetch(`${plc.url}/${did}/data`)).json()) as any
  return data.verificationMethods.atproto
}

test('getServiceAuth: an ES256K JWT of the account, signed compact low-S with the key its DID document names', async () => {
  const before = now()
  const { data } = await alice.agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: CREATE_ACCOUNT })
  const { header, payload, sig, signingInput } = decodeJwt(data.token)
  assert.equal(header, { typ: 'JWT', alg: 'ES256K' })
  assert.equal(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'lxm'])
  assert.is(payload.iss, alice.did)
  assert.is(payload.aud, DEST_DID)
  assert.is(payload.lxm, CREATE_ACCOUNT)
  assert.ok(payload.iat >= before && payload.iat <= now(), 'iat is now, in seconds')
  assert.is(payload.exp, payload.iat + 60, 'a minute by default')
  assert.match(payload.jti, /^[0-9a-f]{32}$/)
  assert.is(sig.length, 64, 'a compact signature')
  // strict verification: compact, low-S, with the DID document's key
  assert.ok(await verifySignature(await docSigningKey(alice.did), signingInput, sig, { allowMalleableSig: false }))
  // a second token is a different one (jti)
  const again = await alice.agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: CREATE_ACCOUNT })
  assert.is.not(decodeJwt(again.data.token).payload.jti, payload.jti)
})

test('getServiceAuth: exp within the reference limits is taken as asked; a method-less token may live a minute', async () => {
  const inAnHour = now() + 3590
  const bound = await alice.agent.com.atproto.server.getServiceAuth({ aud: `${DEST_DID}#atproto_pds`, lxm: 'app.bsky.feed.getTimeline', exp: inAnHour })
  assert.is(decodeJwt(bound.data.token).payload.exp, inAnHour)
  assert.is(decodeJwt(bound.data.token).payload.aud, `${DEST_DID}#atproto_pds`)
  const methodless = await alice.agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, exp: now() + 50 })
  const payload = decodeJwt(methodless.data.token).payload
  assert.not.ok('lxm' in payload)
})

test('getServiceAuth: BadExpiration for an exp in the past, over an hour ahead, or over a minute for a method-less token', async () => {
  const ask = (params: { exp: number; lxm?: string }) => () => alice.agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, ...params })
  await expectXrpcError(ask({ exp: now() - 5, lxm: CREATE_ACCOUNT }), 400, 'BadExpiration')
  await expectXrpcError(ask({ exp: now() + 3700, lxm: CREATE_ACCOUNT }), 400, 'BadExpiration')
  // milliseconds where seconds are expected
  await expectXrpcError(ask({ exp: Date.now() + 30_000, lxm: CREATE_ACCOUNT }), 400, 'BadExpiration')
  await expectXrpcError(ask({ exp: now() + 120 }), 400, 'BadExpiration')
})

test('getServiceAuth: no token for account-management methods, nor for a DID that is not an atproto service', async () => {
  for (const lxm of ['com.atproto.server.createAppPassword', 'com.atproto.server.deactivateAccount', 'com.atproto.identity.signPlcOperation', 'COM.ATPROTO.SERVER.GETSESSION']) {
    const err = await expectXrpcError(() => alice.agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm }), 400, 'InvalidRequest')
    assert.match(err.message, /protected method/)
  }
  for (const aud of ['not-a-did', 'did:example:123', 'did:plc:short', `${DEST_DID}#`, `${DEST_DID}#a#b`, 'did:web:host.example/path']) {
    await expectXrpcError(() => alice.agent.com.atproto.server.getServiceAuth({ aud }), 400, 'InvalidRequest')
  }
  const noAuth = await rawXrpc(home.url, 'com.atproto.server.getServiceAuth', { params: { aud: DEST_DID } })
  assert.is(noAuth.status, 401)
  assert.is(noAuth.body.error, 'AuthMissing')
})

test('getServiceAuth: a token for a privileged method (createAccount) needs the password or a privileged app password', async () => {
  const plain = await alice.agent.com.atproto.server.createAppPassword({ name: 'plain' })
  const privileged = await alice.agent.com.atproto.server.createAppPassword({ name: 'privileged', privileged: true })
  const login = async (password: string) => {
    const agent = home.agent()
    await agent.login({ identifier: alice.did, password })
    return agent
  }
  const plainAgent = await login(plain.data.password)
  const err = await expectXrpcError(() => plainAgent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: CREATE_ACCOUNT }), 400, 'InvalidRequest')
  assert.match(err.message, /insufficient access/)
  // the same session may have tokens for ordinary methods
  await plainAgent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: 'app.bsky.feed.getTimeline' })
  const privilegedAgent = await login(privileged.data.password)
  await privilegedAgent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: CREATE_ACCOUNT })
})

test('getServiceAuth: a taken-down account may only have a token to move elsewhere (createAccount)', async () => {
  const agent = home.agent()
  const res = await agent.createAccount({ handle: 'takedown.test', email: 'takedown@mail.test', password: PASSWORD })
  home.pds.ctx.accounts.setTakedown(res.data.did, 'test-takedown')
  await expectXrpcError(() => agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: 'app.bsky.feed.getTimeline' }), 400, 'InvalidToken')
  await agent.com.atproto.server.getServiceAuth({ aud: DEST_DID, lxm: CREATE_ACCOUNT })
})

// createAccount with an existing DID, on the destination server

let counter = 0
async function invite(): Promise<string> {
  const res = await rawXrpc(dest.url, 'com.atproto.server.createInviteCode', { body: { useCount: 1 }, authorization: ADMIN_AUTH })
  assert.is(res.status, 200)
  return res.body.code
}

async function arriving(own: OwnDid, overrides: Record<string, unknown> = {}) {
  const n = ++counter
  return { did: own.did, handle: `mover${n}.test`, email: `mover${n}@mail.test`, password: PASSWORD, inviteCode: await invite(), ...overrides }
}

function accountCount(): number {
  return (dest.pds.ctx.db.sqlite.prepare('SELECT count(*) AS n FROM account').get() as { n: number }).n
}

async function plcLogLength(did: string): Promise<number> {
  return ((await (await fetch(`${plc.url}/${did}/log/audit`)).json()) as unknown[]).length
}

/** The call is refused with this status and name, and nothing is created: no account, no DID operation, no event. */
async function expectRefused(body: Record<string, unknown>, token: string | undefined, status: number, error: string): Promise<string> {
  const did = String(body.did)
  const before = { accounts: accountCount(), seq: dest.pds.ctx.sequencer.currentSeq(), ops: did.startsWith('did:plc:') ? await plcLogLength(did) : 0, row: dest.pds.ctx.accounts.getByDid(did) }
  const err = await expectXrpcError(
    () => dest.agent().com.atproto.server.createAccount(body as never, token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    status,
    error,
  )
  assert.is(accountCount(), before.accounts, `no account (${error})`)
  assert.equal(dest.pds.ctx.accounts.getByDid(did), before.row, 'the DID has no account, or the same as before')
  assert.is(dest.pds.ctx.sequencer.currentSeq(), before.seq, 'no event')
  if (did.startsWith('did:plc:')) assert.is(await plcLogLength(did), before.ops, 'no DID operation')
  return err.message
}

test('createAccount with a DID: a forged or misdirected service-auth token is refused, nothing is created', async () => {
  const own = await createOwnDid(plc.url, 'forged.test')
  const body = await arriving(own)
  const exp = now() + 60
  const stranger = await Secp256k1Keypair.create()

  // signed with a key that is not the DID document's
  await expectRefused(body, await serviceToken(stranger, { iss: own.did, aud: DEST_DID, exp }), 401, 'BadJwtSignature')
  // the right key, the wrong audience (another server, or this one's DID with a fragment)
  await expectRefused(body, await serviceToken(own.signingKey, { iss: own.did, aud: HOME_DID, exp }), 401, 'BadJwtAudience')
  await expectRefused(body, await serviceToken(own.signingKey, { iss: own.did, aud: `${DEST_DID}#atproto_pds`, exp }), 401, 'BadJwtAudience')
  // expired
  await expectRefused(body, await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp: now() - 1 }), 401, 'JwtExpired')
  // for another method, or for any method
  await expectRefused(body, await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp, lxm: 'com.atproto.repo.createRecord' }), 401, 'BadJwtLexiconMethod')
  await expectRefused(body, await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp, lxm: null }), 401, 'BadJwtLexiconMethod')
  // a session token's type, a malformed token, a service as the issuer
  const payload = { iss: own.did, aud: DEST_DID, exp, lxm: CREATE_ACCOUNT, jti: 'x' }
  await expectRefused(body, await customJwt(own.signingKey, { typ: 'at+jwt', alg: 'ES256K' }, payload), 401, 'BadJwtType')
  await expectRefused(body, 'not.a.jwt', 401, 'BadJwt')
  await expectRefused(body, 'only-one-part', 401, 'BadJwt')
  await expectRefused(body, await customJwt(own.signingKey, { typ: 'JWT', alg: 'ES256K' }, { ...payload, iss: `${own.did}#atproto` }), 401, 'BadJwtIss')
  // the high-S twin of a good signature (compact low-S only)
  const good = await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp })
  await expectRefused(body, withHighS(good), 401, 'BadJwtSignature')
  // a good token of another DID, or none at all
  const other = await createOwnDid(plc.url, 'other.test')
  const message = await expectRefused(body, await serviceToken(other.signingKey, { iss: other.did, aud: DEST_DID, exp }), 401, 'AuthenticationRequired')
  assert.match(message, /Missing auth/)
  await expectRefused(body, undefined, 401, 'AuthenticationRequired')

  // the good token itself works
  const agent = dest.agent()
  await agent.createAccount(body as never, { headers: { authorization: `Bearer ${good}` } })
  assert.is(agent.session?.did, own.did)
})

test('createAccount with a DID: the account starts deactivated, keeps its DID (no PLC operation) and announces nothing', async () => {
  const own = await createOwnDid(plc.url, 'quiet.test')
  const opsBefore = await plcLogLength(own.did)
  const seqBefore = dest.pds.ctx.sequencer.currentSeq()
  const token = await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp: now() + 60 })
  const agent = dest.agent()
  const res = await agent.createAccount(await arriving(own, { handle: 'quiet.test' }), { headers: { authorization: `Bearer ${token}` } })
  assert.is(res.data.did, own.did)
  assert.is(res.data.handle, 'quiet.test')
  assert.not.ok('didDoc' in res.data, 'no DID document naming the old server (the client would follow it there)')
  assert.is(await plcLogLength(own.did), opsBefore)
  assert.is(dest.pds.ctx.sequencer.currentSeq(), seqBefore)
  const status = (await agent.com.atproto.server.checkAccountStatus()).data
  assert.is(status.activated, false)
  assert.is(status.validDid, false)
  // a new signing key of this server's, which it recommends for the DID document
  const creds = (await agent.com.atproto.identity.getRecommendedDidCredentials()).data as any
  assert.is.not(creds.verificationMethods.atproto, own.signingKey.did())
  // not served, and no writes while deactivated
  const read = await rawXrpc(dest.url, 'com.atproto.sync.getLatestCommit', { params: { did: own.did } })
  assert.is(read.body.error, 'RepoDeactivated')
  await expectXrpcError(
    () => agent.com.atproto.repo.createRecord({ repo: own.did, collection: 'app.bsky.feed.post', record: { text: 'x', createdAt: new Date().toISOString() } }),
    400,
    'AccountDeactivated',
  )
  // the token cannot make a second account for the DID
  const again = await expectRefused(await arriving(own), token, 400, 'InvalidRequest')
  assert.match(again, /already hosted/)
})

test('createAccount with a DID: UnresolvableDid, IncompatibleDidDoc', async () => {
  const exp = now() + 60
  // a DID the PLC directory does not know
  const key = await Secp256k1Keypair.create()
  const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const fake = { did: unknown, signingKey: key, rotationKey: key }
  await expectRefused(await arriving(fake), await serviceToken(key, { iss: unknown, aud: DEST_DID, exp }), 400, 'UnresolvableDid')
  // DIDs of a kind atproto does not resolve: a path-based did:web, a did:key
  for (const did of ['did:web:example.com:alice', key.did()]) {
    await expectRefused(await arriving({ ...fake, did }), await serviceToken(key, { iss: did, aud: DEST_DID, exp }), 400, 'UnresolvableDid')
  }
  // a DID whose document names no signing key
  const keyless = await createKeylessDid(plc.url, 'keyless.test')
  await expectRefused(await arriving({ ...fake, did: keyless }), await serviceToken(key, { iss: keyless, aud: DEST_DID, exp }), 400, 'IncompatibleDidDoc')
})

test('createAccount with a DID: the handle and invite rules of any account (InvalidHandle, HandleNotAvailable, InvalidInviteCode)', async () => {
  const own = await createOwnDid(plc.url, 'rules.test')
  const token = await serviceToken(own.signingKey, { iss: own.did, aud: DEST_DID, exp: now() + 300 })
  await expectRefused(await arriving(own, { handle: 'bad_handle.test' }), token, 400, 'InvalidHandle')
  await expectRefused(await arriving(own, { handle: 'someone.example' }), token, 400, 'InvalidHandle')
  await expectRefused(await arriving(own, { handle: 'admin.test' }), token, 400, 'HandleNotAvailable')
  await expectRefused(await arriving(own, { handle: 'quiet.test' }), token, 400, 'HandleNotAvailable')
  await expectRefused(await arriving(own, { inviteCode: 'no-such-code' }), token, 400, 'InvalidInviteCode')
  // a domain of its own must resolve to the DID
  const message = await expectRefused(await arriving(own, { handle: 'rules.example.com' }), token, 400, 'InvalidRequest')
  assert.match(message, /did not resolve/)
  // and a PLC operation cannot come along
  await expectRefused(await arriving(own, { plcOp: { type: 'plc_operation' } }), token, 400, 'InvalidRequest')
})

test('createAccount: a token is verified only for a DID moving here, after the per-IP limit (forged tokens cannot make us resolve DIDs unlimited)', async () => {
  const proxy = await startPlcProxy()
  proxy.target = plc.url
  const limited = await startServer(plc, 'did:web:limited-pds.carrel.test', { PDS_DID_PLC_URL: proxy.url, PDS_CREATE_ACCOUNT_RATE_LIMIT_PER_IP: '3' })
  try {
    const own = await createOwnDid(plc.url, 'flood.test')
    const stranger = await Secp256k1Keypair.create()
    const forged = await serviceToken(stranger, { iss: own.did, aud: 'did:web:limited-pds.carrel.test', exp: now() + 60 })
    const attempt = (n: number, ip: string, body: Record<string, unknown> = {}) =>
      rawXrpc(limited.url, 'com.atproto.server.createAccount', {
        token: forged,
        ip,
        body: { did: own.did, handle: `flood${n}.test`, email: `flood${n}@mail.test`, password: PASSWORD, ...body },
      })
    const lookups = () => proxy.seen.filter((r) => r.path.includes(encodeURIComponent(own.did)) || r.path.includes(own.did)).length
    for (let i = 0; i < 3; i++) {
      const res = await attempt(i, '198.51.100.20')
      assert.is(res.status, 401)
      assert.is(res.body.error, 'BadJwtSignature')
    }
    const resolved = lookups()
    assert.is(resolved, 3, 'one DID document read per counted attempt')
    const refused = await attempt(4, '198.51.100.20')
    assert.is(refused.status, 429)
    assert.is(refused.body.error, 'RateLimitExceeded')
    assert.is(lookups(), resolved, 'no DID resolution past the limit')
    // without a DID, a stray Bearer token is not a service-auth token to check: ignored
    const plain = await attempt(5, '198.51.100.21', { did: undefined })
    assert.is(plain.status, 200, JSON.stringify(plain.body))
    assert.is(lookups(), resolved)
  } finally {
    await stopServer(limited)
    await proxy.close()
  }
})

test.run()
