// Restarts: sessions, accounts and DIDs survive a restart of the server, with an external PLC
// directory and with the embedded one (no PDS_DID_PLC_URL: PLC runs beside the server).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { startPds, type Pds } from '../src/pds.ts'
import { SigningKey } from '../src/repo/signing-key.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'

let net: TestNetwork
const cleanups: (() => Promise<void> | void)[] = []

test.after(async () => {
  await net?.close()
  for (const c of cleanups.reverse()) await c()
})

async function refresh(base: string, refreshJwt: string) {
  const res = await fetch(`${base}/xrpc/com.atproto.server.refreshSession`, {
    method: 'POST',
    headers: { authorization: `Bearer ${refreshJwt}` },
  })
  return { status: res.status, body: (await res.json()) as any }
}

test('restart: sessions stay valid, logins work, the DID still resolves', async () => {
  net = await startNetwork()
  const { agent, did, handle, password } = await net.createAccount('restarter')
  const session = agent.session!
  const url = net.url
  await net.restart()
  assert.is(net.url, url, 'same port after restart')

  // the old access token still works (same secret), through a fresh client
  const resumed = new AtpAgent({ service: net.url })
  resumed.sessionManager.session = { ...session }
  const me = await resumed.com.atproto.server.getSession()
  assert.is(me.data.did, did)
  // the stored refresh token still rotates
  const r = await refresh(net.url, session.refreshJwt)
  assert.is(r.status, 200, JSON.stringify(r.body))
  assert.is(r.body.did, did)
  // password login
  const fresh = net.agent()
  await fresh.login({ identifier: handle, password })
  assert.is(fresh.session!.did, did)
  // identity
  const ident = await net.pds.ctx.identity.didResolver.resolveAtproto(did)
  assert.is(ident?.handle, handle)
  assert.is(ident?.pds, net.url)
  const resolved = await net.agent().com.atproto.identity.resolveHandle({ handle })
  assert.is(resolved.data.did, did)
})

test('embedded PLC: a DID created before a restart still resolves after it', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'carrel-embedded-'))
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
  const env = {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: '0',
    PDS_PLC_PORT: '0',
    PDS_DATA_DIRECTORY: dataDir,
    PDS_JWT_SECRET: 'embedded-jwt-secret-for-tests',
    PDS_ADMIN_PASSWORD: 'admin-password-for-tests',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
  }
  let pds: Pds | undefined = await startPds(env)
  cleanups.push(() => pds?.close())
  assert.is(pds.cfg.plcUrl, undefined)
  const plcUrl1 = pds.ctx.identity.plcUrl
  assert.match(plcUrl1, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.is(pds.cfg.publicUrl, pds.url)

  const agent = new AtpAgent({ service: pds.url })
  const created = await agent.createAccount({ handle: 'offline.test', email: 'offline@mail.test', password: 'password123' })
  const did = created.data.did
  assert.match(did, /^did:plc:/)
  const docBefore = (await (await fetch(`${plcUrl1}/${did}`)).json()) as any
  const row = pds.ctx.accounts.getByDid(did)!
  const key = await SigningKey.fromPrivateKey(new Uint8Array(row.signing_key))
  const identBefore = await pds.ctx.identity.didResolver.resolveAtproto(did)
  assert.is(identBefore?.signingKey, key.did())
  assert.is(identBefore?.pds, pds.url)
  const port = String(pds.http.port)

  await pds.close()
  // the embedded directory stopped with the server
  const down = await fetch(`${plcUrl1}/${did}`).then(
    () => 'up',
    () => 'down',
  )
  assert.is(down, 'down')

  pds = await startPds({ ...env, PDS_PORT: port })
  const plcUrl2 = pds.ctx.identity.plcUrl
  const res = await fetch(`${plcUrl2}/${did}`)
  assert.is(res.status, 200)
  assert.equal(await res.json(), docBefore)
  const identAfter = await pds.ctx.identity.didResolver.resolveAtproto(did)
  assert.is(identAfter?.signingKey, key.did())
  assert.is(identAfter?.handle, 'offline.test')
  // the account works, and new accounts can be created on the restarted directory
  const again = new AtpAgent({ service: pds.url })
  await again.login({ identifier: 'offline.test', password: 'password123' })
  assert.is(again.session!.did, did)
  const second = await new AtpAgent({ service: pds.url }).createAccount({
    handle: 'offline2.test',
    email: 'offline2@mail.test',
    password: 'password123',
  })
  assert.is(((await (await fetch(`${plcUrl2}/${second.data.did}`)).json()) as any).id, second.data.did)
  await pds.close()
  pds = undefined
})

test.run()
