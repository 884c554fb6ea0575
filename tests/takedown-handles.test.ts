// A taken-down account's handle stops resolving here (/.well-known/atproto-did by Host and
// com.atproto.identity.resolveHandle), as the reference stops answering for it; a deactivated
// account's handle keeps resolving; lifting the takedown brings the handle back. A neighbour's
// handle is never affected.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { adminAgent } from './_admin.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc, wellKnownDid } from './_util.ts'

let net: TestNetwork
let admin: AtpAgent

test.before(async () => {
  net = await startNetwork()
  admin = adminAgent(net.url)
})
test.after(async () => {
  await net?.close()
})

const wellKnown = (handle: string) => wellKnownDid(net.url, handle)
const resolve = (handle: string) => rawXrpc(net.url, 'com.atproto.identity.resolveHandle', { params: { handle } })
const repoRef = (did: string) => ({ $type: 'com.atproto.admin.defs#repoRef', did })

test('a taken-down handle stops resolving and comes back when the takedown is lifted', async () => {
  const alice = await net.createAccount('alice')
  const bob = await net.createAccount('bob')
  assert.equal(await wellKnown(alice.handle), { status: 200, body: alice.did })
  assert.is((await resolve(alice.handle)).body.did, alice.did)

  await admin.com.atproto.admin.updateSubjectStatus({ subject: repoRef(alice.did), takedown: { applied: true } })
  assert.is((await wellKnown(alice.handle)).status, 404)
  const refused = await resolve(alice.handle)
  assert.is(refused.status, 400, JSON.stringify(refused.body))
  assert.is(refused.body.error, 'HandleNotFound')
  assert.equal(await wellKnown(bob.handle), { status: 200, body: bob.did })
  assert.is((await resolve(bob.handle)).body.did, bob.did)

  await admin.com.atproto.admin.updateSubjectStatus({ subject: repoRef(alice.did), takedown: { applied: false } })
  assert.equal(await wellKnown(alice.handle), { status: 200, body: alice.did })
  assert.is((await resolve(alice.handle)).body.did, alice.did)
})

test('a deactivated account keeps its handle', async () => {
  const carol = await net.createAccount('carol')
  await carol.agent.com.atproto.server.deactivateAccount({})
  assert.equal(await wellKnown(carol.handle), { status: 200, body: carol.did })
  assert.is((await resolve(carol.handle)).body.did, carol.did)
})

test.run()
