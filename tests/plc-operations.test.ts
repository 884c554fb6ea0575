// The PLC operation flow through @atproto/api against a real PLC directory:
// getRecommendedDidCredentials, requestPlcOperationSignature (the token goes to the outbox in the
// data directory; the database keeps only its hash), signPlcOperation (token checks, one use),
// submitPlcOperation (what it refuses for an active account, what a deactivated account may do,
// #identity), createAccount's recoveryKey, and what happens once the account holder has taken
// the server's rotation key out of the DID.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { cidForCbor } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import * as plc from '@did-plc/lib'
import { type Frame, identityOf, RawSubscriber } from './_firehose.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { startPlcProxy, type PlcProxy } from './_plc-proxy.ts'
import { expectXrpcError, outboxFile, outboxToken, plcData, rawXrpc } from './_util.ts'

type Signer = Parameters<typeof plc.createOp>[0]['signer']
const signer = (k: Secp256k1Keypair) => k as unknown as Signer

let proxy: PlcProxy
let net: TestNetwork
let sub: RawSubscriber
let serverKey: string

type Account = { agent: AtpAgent; did: string; handle: string; recovery: Secp256k1Keypair }

test.before(async () => {
  proxy = await startPlcProxy()
  net = await startNetwork({ PDS_DID_PLC_URL: proxy.url })
  proxy.target = net.plc.url
  sub = await RawSubscriber.connect(net.url)
  serverKey = (await net.pds.ctx.identity.plcRotationKey()).did()
})

test.after(async () => {
  await sub?.close()
  await net?.close()
  await proxy?.close()
})

let counter = 0
/** An account whose holder keeps a recovery key of their own (listed first in rotationKeys). */
async function createAccount(name = `plc${++counter}`): Promise<Account> {
  const recovery = await Secp256k1Keypair.create()
  const agent = net.agent()
  const handle = `${name}.test`
  const res = await agent.createAccount({
    handle,
    email: `${name}@mail.test`,
    password: 'correct horse battery staple',
    recoveryKey: recovery.did(),
  })
  return { agent, did: res.data.did, handle, recovery }
}

async function lastOp(did: string): Promise<any> {
  return (await fetch(`${net.plc.url}/${did}/log/last`)).json()
}

async function opCount(did: string): Promise<number> {
  return ((await (await fetch(`${net.plc.url}/${did}/log/audit`)).json()) as unknown[]).length
}

async function postOp(did: string, op: unknown): Promise<number> {
  const res = await fetch(`${net.plc.url}/${did}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(op),
  })
  return res.status
}

/** An update of the account's DID, signed by its holder's recovery key, not yet submitted. */
async function holderOp(account: Account, change: (last: plc.UnsignedOperation) => Partial<plc.UnsignedOperation>) {
  return plc.createUpdateOp(await lastOp(account.did), signer(account.recovery), (last) => ({ ...last, ...change(last) }))
}

const outboxMessage = (did: string) => outboxFile(net.dataDir, 'plc-operation', did)
const tokenFromOutbox = (did: string) => outboxToken(net.dataDir, 'plc-operation', did)

const seqNow = () => net.pds.ctx.sequencer.currentSeq()

/** Runs `fn`, then a marker account's creation; the events sequenced in between. */
async function eventsDuring(fn: () => Promise<unknown>): Promise<Frame[]> {
  const after = seqNow()
  await fn()
  const marker = await net.createAccount()
  const isMarker = (f: Frame) => identityOf(marker.did)(f) && f.body.seq > after
  const frames = await sub.waitFor((fs) => fs.some(isMarker), 10_000, 'the marker event')
  const markerSeq = frames.find(isMarker)!.body.seq
  return frames.filter((f) => f.body.seq > after && f.body.seq < markerSeq)
}

test('createAccount with a recoveryKey: it comes first in rotationKeys, before the server key', async () => {
  const account = await createAccount('recover')
  const data = await plcData(net.plc.url, account.did)
  assert.equal(data.rotationKeys, [account.recovery.did(), serverKey])
  // and it really is a rotation key: the holder can update the DID without the server
  const op = await holderOp(account, () => ({ alsoKnownAs: [`at://${account.handle}`, 'https://example.com/me'] }))
  assert.is(await postOp(account.did, op), 200)
  // an account without one gets the server key alone
  const plain = await net.createAccount('norecovery')
  assert.equal((await plcData(net.plc.url, plain.did)).rotationKeys, [serverKey])
})

test('createAccount with a recoveryKey that is not a did:key: 400, and no account and no DID are made', async () => {
  const exportCount = async () => (await (await fetch(`${net.plc.url}/export?count=1000`)).text()).split('\n').filter(Boolean).length
  const before = await exportCount()
  for (const recoveryKey of ['not-a-key', 'did:key:zNotAKey', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz']) {
    const res = await rawXrpc(net.url, 'com.atproto.server.createAccount', {
      body: { handle: 'badrecovery.test', email: 'badrecovery@mail.test', password: 'correct horse battery staple', recoveryKey },
    })
    assert.is(res.status, 400, recoveryKey)
    assert.is(res.body.error, 'InvalidRequest', recoveryKey)
    assert.match(res.body.message, /recoveryKey/)
  }
  assert.is(await exportCount(), before)
  assert.is(net.pds.ctx.accounts.getByHandle('badrecovery.test'), undefined)
})

test('getRecommendedDidCredentials: what the DID document of an account served here holds', async () => {
  const account = await createAccount()
  const res = await account.agent.com.atproto.identity.getRecommendedDidCredentials()
  const data = await plcData(net.plc.url, account.did)
  assert.equal(res.data, {
    rotationKeys: [serverKey],
    alsoKnownAs: data.alsoKnownAs,
    verificationMethods: data.verificationMethods,
    services: data.services,
  })
  assert.equal(res.data.services, { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: net.url } })
  const anonymous = await rawXrpc(net.url, 'com.atproto.identity.getRecommendedDidCredentials')
  assert.is(anonymous.status, 401)
  assert.is(anonymous.body.error, 'AuthMissing')
})

test('request, sign and submit: the token reaches the outbox (the database keeps its hash), works once, and the operation lands with #identity', async () => {
  const account = await createAccount('flow')
  await account.agent.com.atproto.identity.requestPlcOperationSignature()
  const file = outboxMessage(account.did)
  assert.is(statSync(file).mode & 0o777, 0o600)
  assert.is(statSync(dirname(file)).mode & 0o777, 0o700)
  const text = readFileSync(file, 'utf8')
  assert.match(text, /^To: flow@mail\.test$/m)
  const token = tokenFromOutbox(account.did)
  const row = net.pds.ctx.db.sqlite
    .prepare("SELECT * FROM account_token WHERE did = ? AND purpose = 'plc_operation'")
    .get(account.did) as any
  assert.is(Buffer.from(row.token_hash, 'base64url').length, 32)
  assert.not.ok(row.token_hash.includes(token), 'the token itself is not stored')
  assert.not.ok(Buffer.from(row.token_hash, 'base64url').includes(Buffer.from(token)), 'the token itself is not stored')
  assert.ok(row.expires_at > Date.now())

  const newKey = await Secp256k1Keypair.create()
  const before = await lastOp(account.did)
  const signed = await account.agent.com.atproto.identity.signPlcOperation({
    token: token.toLowerCase(),
    rotationKeys: [account.recovery.did(), newKey.did(), serverKey],
  })
  const op = signed.data.operation as plc.Operation
  assert.is(op.prev, (await cidForCbor(before)).toString())
  assert.equal(op.rotationKeys, [account.recovery.did(), newKey.did(), serverKey])
  assert.equal(op.alsoKnownAs, before.alsoKnownAs)
  assert.equal(op.verificationMethods, before.verificationMethods)
  assert.equal(op.services, before.services)
  assert.is(await plc.assureValidSig([serverKey], op), serverKey)
  // signing submits nothing
  assert.equal((await plcData(net.plc.url, account.did)).rotationKeys, [account.recovery.did(), serverKey])
  assert.not.ok(existsSync(file), 'the outbox message is gone once used')
  await expectXrpcError(() => account.agent.com.atproto.identity.signPlcOperation({ token }), 400, 'InvalidToken')

  const after = seqNow()
  await account.agent.com.atproto.identity.submitPlcOperation({ operation: op })
  assert.equal((await plcData(net.plc.url, account.did)).rotationKeys, [account.recovery.did(), newKey.did(), serverKey])
  const frames = await sub.waitFor((fs) => fs.some((f) => identityOf(account.did)(f) && f.body.seq > after), 10_000, '#identity')
  assert.is(frames.find((f) => identityOf(account.did)(f) && f.body.seq > after)!.body.handle, account.handle)
})

test('signPlcOperation: no token, a wrong, replaced or expired token, bad keys; nothing is signed and a good token survives a refused request', async () => {
  const account = await createAccount()
  const sign = (body: Record<string, unknown>) =>
    rawXrpc(net.url, 'com.atproto.identity.signPlcOperation', { token: account.agent.session!.accessJwt, body })
  const expect = async (body: Record<string, unknown>, error: string) => {
    const res = await sign(body)
    assert.is(res.status, 400, JSON.stringify(body))
    assert.is(res.body.error, error, JSON.stringify(res.body))
    return res
  }
  const noToken = await expect({}, 'InvalidRequest')
  assert.match(noToken.body.message, /token required/)
  await expect({ token: 'AAAAA-AAAAA' }, 'InvalidToken')

  await account.agent.com.atproto.identity.requestPlcOperationSignature()
  const first = tokenFromOutbox(account.did)
  await account.agent.com.atproto.identity.requestPlcOperationSignature()
  const second = tokenFromOutbox(account.did)
  assert.is.not(first, second)
  await expect({ token: first }, 'InvalidToken')

  // refused input does not use the token up
  await expect({ token: second, rotationKeys: ['not-a-key'] }, 'InvalidRequest')
  await expect({ token: second, rotationKeys: [] }, 'InvalidRequest')
  await expect({ token: second, verificationMethods: { atproto: 12 } }, 'InvalidRequest')
  await expect({ token: second, services: { atproto_pds: { type: 'AtprotoPersonalDataServer' } } }, 'InvalidRequest')
  // nor does a PLC directory that fails
  proxy.failWith = 503
  try {
    const res = await sign({ token: second })
    assert.is(res.status, 502)
    assert.is(res.body.error, 'UpstreamFailure')
  } finally {
    proxy.failWith = null
  }
  const ok = await sign({ token: second })
  assert.is(ok.status, 200, JSON.stringify(ok.body))

  // an expired token
  await account.agent.com.atproto.identity.requestPlcOperationSignature()
  const third = tokenFromOutbox(account.did)
  net.pds.ctx.db.sqlite
    .prepare("UPDATE account_token SET expires_at = ? WHERE did = ? AND purpose = 'plc_operation'")
    .run(Date.now() - 1, account.did)
  await expect({ token: third }, 'ExpiredToken')
  assert.not.ok(existsSync(outboxMessage(account.did)), 'an expired token leaves the outbox')
  await expect({ token: third }, 'ExpiredToken')

  const anonymous = await rawXrpc(net.url, 'com.atproto.identity.signPlcOperation', { body: { token: third } })
  assert.is(anonymous.status, 401)
  const anonymousRequest = await rawXrpc(net.url, 'com.atproto.identity.requestPlcOperationSignature', { method: 'POST' })
  assert.is(anonymousRequest.status, 401)
  assert.is(await opCount(account.did), 1, 'nothing was submitted')
})

test('submitPlcOperation refuses, for an active account, operations that would take it away from this server; nothing is sent or announced', async () => {
  const account = await createAccount()
  const stranger = await Secp256k1Keypair.create()
  const cases: [string, unknown][] = [
    ['Invalid operation', { hello: 'world' }],
    ['Invalid operation', await plc.tombstoneOp(await cidForCbor(await lastOp(account.did)), account.recovery)],
    ["Rotation keys do not include server's rotation key", await holderOp(account, () => ({ rotationKeys: [account.recovery.did()] }))],
    [
      'Incorrect endpoint on atproto_pds service',
      await holderOp(account, (l) => ({ services: { ...l.services, atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://elsewhere.example' } } })),
    ],
    ['Incorrect type on atproto_pds service', await holderOp(account, () => ({ services: {} }))],
    ['Incorrect signing key', await holderOp(account, (l) => ({ verificationMethods: { ...l.verificationMethods, atproto: stranger.did() } }))],
    ['Incorrect handle in alsoKnownAs', await holderOp(account, () => ({ alsoKnownAs: ['at://someone-else.test'] }))],
  ]
  const before = await plcData(net.plc.url, account.did)
  const during = await eventsDuring(async () => {
    for (const [message, operation] of cases) {
      const res = await rawXrpc(net.url, 'com.atproto.identity.submitPlcOperation', {
        token: account.agent.session!.accessJwt,
        body: { operation },
      })
      assert.is(res.status, 400, message)
      assert.equal(res.body, { error: 'InvalidRequest', message })
    }
    // well formed and keeping everything, but not signed by a rotation key: the directory refuses it
    const forged = await plc.createUpdateOp(await lastOp(account.did), signer(stranger), (l) => l)
    const res = await rawXrpc(net.url, 'com.atproto.identity.submitPlcOperation', {
      token: account.agent.session!.accessJwt,
      body: { operation: forged },
    })
    assert.is(res.status, 400)
    assert.is(res.body.error, 'InvalidRequest')
    assert.match(res.body.message, /PLC directory refused/)
    const anonymous = await rawXrpc(net.url, 'com.atproto.identity.submitPlcOperation', { body: { operation: forged } })
    assert.is(anonymous.status, 401)
  })
  assert.equal(during.filter((f) => f.body.did === account.did), [])
  assert.equal(await plcData(net.plc.url, account.did), before)
  assert.is(await opCount(account.did), 1)
})

test('a deactivated account may point its DID elsewhere (it is leaving), announced by nobody; one that stays must still be servable', async () => {
  const account = await createAccount()
  net.pds.ctx.accounts.setDeactivated(account.did, new Date().toISOString())
  try {
    const staysBroken = await holderOp(account, () => ({ alsoKnownAs: ['at://someone-else.test'] }))
    await expectXrpcError(
      () => account.agent.com.atproto.identity.submitPlcOperation({ operation: staysBroken }),
      400,
      'InvalidRequest',
    )
    const leaving = await holderOp(account, (l) => ({
      rotationKeys: [account.recovery.did()],
      services: { ...l.services, atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://new-home.example' } },
    }))
    const during = await eventsDuring(() => account.agent.com.atproto.identity.submitPlcOperation({ operation: leaving }))
    assert.equal(during.filter((f) => f.body.did === account.did), [], 'no event while deactivated')
    const data = await plcData(net.plc.url, account.did)
    assert.is(data.services.atproto_pds.endpoint, 'https://new-home.example')
    assert.equal(data.rotationKeys, [account.recovery.did()])
  } finally {
    net.pds.ctx.accounts.setDeactivated(account.did, null)
  }
})

test("once the holder has taken the server's rotation key out, updateHandle and signPlcOperation say so and change nothing", async () => {
  const account = await createAccount()
  const op = await holderOp(account, () => ({ rotationKeys: [account.recovery.did()] }))
  assert.is(await postOp(account.did, op), 200)
  const ops = await opCount(account.did)
  const update = await expectXrpcError(() => account.agent.com.atproto.identity.updateHandle({ handle: 'taken-back.test' }), 400, 'InvalidRequest')
  assert.match(update.message, /rotation key can no longer update/)
  assert.is((await account.agent.com.atproto.server.getSession()).data.handle, account.handle)
  await account.agent.com.atproto.identity.requestPlcOperationSignature()
  const sign = await expectXrpcError(
    () => account.agent.com.atproto.identity.signPlcOperation({ token: tokenFromOutbox(account.did) }),
    400,
    'InvalidRequest',
  )
  assert.match(sign.message, /rotation key can no longer update/)
  assert.is(await opCount(account.did), ops)
})

test.run()
