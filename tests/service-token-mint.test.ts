// The service-auth tokens of forwarded calls (src/auth/service-token-mint.ts): made here rather
// than by xrpc-server's createServiceJwt, and for busy calls signed ahead in a worker thread.
// Differential: the worker's signatures are SigningKey.signSync's, byte for byte, over random
// inputs from several keys interleaved; every token, signed here or ahead, passes xrpc-server's
// own verifier with the strict (compact low-S) signature check and has createServiceJwt's form.
// A token signed ahead is never handed out for another key, nor after 10 s; each is used once.
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { signServiceJwt, verifyServiceJwt } from '../src/auth/service-auth.ts'
import { ServiceTokenMint } from '../src/auth/service-token-mint.ts'
import { packageRoot } from '../src/paths.ts'
import { SigningKey } from '../src/repo/signing-key.ts'

const ISS = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const AUD = 'did:web:api.bsky.app#bsky_appview'
const LXM = 'app.bsky.feed.getTimeline'

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p] = token.split('.') as [string, string]
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), claims: JSON.parse(Buffer.from(p, 'base64url').toString()) }
}

async function verify(token: string, key: SigningKey, aud = AUD, lxm = LXM) {
  return verifyServiceJwt(token, { aud, lxm, signingKeyOf: async () => key.did() })
}

const tick = () => new Promise((r) => setTimeout(r, 20))

/** Calls `token` until the mint has handed out `n` tokens signed ahead (or gives up). */
async function untilSignedAhead(mint: ServiceTokenMint, key: SigningKey, n: number, req = { iss: ISS, aud: AUD, lxm: LXM }): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 0; i < 500 && mint.counts().signedAhead < n; i++) {
    tokens.push(mint.token(req, key))
    await tick()
  }
  assert.ok(mint.counts().signedAhead >= n, `signed ahead: ${JSON.stringify(mint.counts())}`)
  return tokens
}

test('the worker signs byte for byte as SigningKey.signSync, over random inputs from interleaved keys', async () => {
  const keys = await Promise.all(Array.from({ length: 4 }, () => SigningKey.generate()))
  const worker = new Worker(join(packageRoot, 'src', 'auth', 'sign-worker.mjs'))
  try {
    for (let round = 0; round < 40; round++) {
      const key = keys[round % keys.length]!
      const inputs = Array.from({ length: 1 + (round % 7) }, () => randomBytes(1 + (round * 37) % 600).toString('base64url'))
      const reply = new Promise<{ id: number; sigs: Uint8Array[] }>((resolve) => worker.once('message', resolve))
      worker.postMessage({ id: round, key: key.exportPrivateKey(), inputs })
      const { id, sigs } = await reply
      assert.is(id, round)
      assert.is(sigs.length, inputs.length)
      inputs.forEach((input, i) => {
        assert.equal(Buffer.from(sigs[i]!), Buffer.from(key.signSync(Buffer.from(input))), `round ${round} input ${i}`)
      })
    }
  } finally {
    await worker.terminate()
  }
})

test('a token made here has createServiceJwt form and passes its verifier, strict signatures included', async () => {
  const key = await SigningKey.generate()
  const ours = signServiceJwt({ iss: ISS, aud: AUD, lxm: LXM, key })
  const theirs = await createServiceJwt({ iss: ISS, aud: AUD, lxm: LXM, keypair: await Secp256k1Keypair.import(key.exportPrivateKey()) })
  const a = decode(ours)
  const b = decode(theirs)
  assert.equal(a.header, b.header)
  assert.equal(Object.keys(a.claims), Object.keys(b.claims), 'the same claims in the same order')
  assert.match(a.claims.jti as string, /^[0-9a-f]{32}$/)
  assert.is((a.claims.exp as number) - (a.claims.iat as number), 60)
  const claims = await verify(ours, key)
  assert.is(claims.iss, ISS)
  assert.is(claims.lxm, LXM)
  // without a method, no lxm claim at all (as createServiceJwt)
  const anyMethod = decode(signServiceJwt({ iss: ISS, aud: AUD, lxm: null, key }))
  assert.not.ok('lxm' in anyMethod.claims)
})

test('busy calls get tokens signed ahead: all verify, all different, fresh; quiet ones are signed on the spot', async () => {
  const mint = new ServiceTokenMint()
  const key = await SigningKey.generate()
  try {
    // one call now and then: nothing is signed ahead for it
    mint.token({ iss: ISS, aud: AUD, lxm: 'app.bsky.actor.getProfile' }, key)
    await tick()
    assert.is(mint.counts().signedAhead, 0)

    const tokens = await untilSignedAhead(mint, key, 20)
    for (let i = 0; i < 40; i++) tokens.push(mint.token({ iss: ISS, aud: AUD, lxm: LXM }, key))
    assert.is(new Set(tokens).size, tokens.length)
    assert.is(new Set(tokens.map((t) => decode(t).claims.jti)).size, tokens.length, 'a jti of its own each')
    const now = Date.now() / 1000
    for (const token of tokens) {
      const { claims } = decode(token)
      assert.ok(now - (claims.iat as number) <= 11, 'signed within the last 10 s')
      assert.is((claims.exp as number) - (claims.iat as number), 60)
      await verify(token, key)
    }
    // a token for another method or service is not one of these
    const other = mint.token({ iss: ISS, aud: 'did:web:chat.bsky.app#bsky_chat', lxm: LXM }, key)
    await verify(other, key, 'did:web:chat.bsky.app#bsky_chat')
  } finally {
    await mint.close()
  }
})

test("a new key never gets tokens signed ahead with the old one", async () => {
  const mint = new ServiceTokenMint()
  const oldKey = await SigningKey.generate()
  const newKey = await SigningKey.generate()
  try {
    await untilSignedAhead(mint, oldKey, 5)
    assert.ok(mint.counts().ready > 0, 'tokens of the old key are waiting')
    for (let i = 0; i < 30; i++) {
      const token = mint.token({ iss: ISS, aud: AUD, lxm: LXM }, newKey)
      await verify(token, newKey)
      try {
        await verify(token, oldKey)
        assert.unreachable('signed with the old key')
      } catch (err) {
        assert.is((err as { customErrorName?: string }).customErrorName, 'BadJwtSignature')
      }
      await tick()
    }
  } finally {
    await mint.close()
  }
})

test('a token signed ahead more than 10 s before is not handed out', async () => {
  const mint = new ServiceTokenMint()
  const key = await SigningKey.generate()
  const realNow = Date.now
  try {
    await untilSignedAhead(mint, key, 5)
    assert.ok(mint.counts().ready > 0)
    const skew = 11_000
    Date.now = () => realNow() + skew
    const token = mint.token({ iss: ISS, aud: AUD, lxm: LXM }, key)
    const { claims } = decode(token)
    assert.ok((claims.iat as number) >= Math.floor((realNow() + skew) / 1000) - 1, `iat ${claims.iat} is from now, not 11 s ago`)
  } finally {
    Date.now = realNow
    await mint.close()
  }
})

test('after close, tokens are still made (on the spot)', async () => {
  const mint = new ServiceTokenMint()
  const key = await SigningKey.generate()
  await untilSignedAhead(mint, key, 1)
  await mint.close()
  const before = mint.counts().signedAhead
  for (let i = 0; i < 5; i++) await verify(mint.token({ iss: ISS, aud: AUD, lxm: LXM }, key), key)
  assert.is(mint.counts().signedAhead, before)
})

test.run()
