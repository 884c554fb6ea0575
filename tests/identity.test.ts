// com.atproto.identity.resolveHandle, the DID resolver, and the embedded PLC directory's
// SQLite operation log (validation, forks/nullification, races, persistence).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Secp256k1Keypair } from '@atproto/crypto'
import { cidForCbor } from '@atproto/common'
import * as plc from '@did-plc/lib'
import { migrateToLatest, openDatabase, type Db } from '../src/db/index.ts'
import { DidResolveError, DidResolver } from '../src/identity/did-resolver.ts'
import { startEmbeddedPlc, type EmbeddedPlc } from '../src/identity/embedded-plc.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'

let net: TestNetwork
const tmpDirs: string[] = []

type Signer = Parameters<typeof plc.createOp>[0]['signer']
const signer = (k: Secp256k1Keypair) => k as unknown as Signer

async function resolveHandle(handle: string) {
  const url = new URL('/xrpc/com.atproto.identity.resolveHandle', net.url)
  url.searchParams.set('handle', handle)
  const res = await fetch(url)
  return { status: res.status, body: (await res.json()) as any }
}

async function postOp(base: string, did: string, op: unknown) {
  const res = await fetch(`${base}/${did}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(op),
  })
  return { status: res.status, body: await res.text() }
}

async function openTempDb(dir?: string): Promise<{ db: Db; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'carrel-plc-'))
  if (!dir) tmpDirs.push(d)
  const db = openDatabase(join(d, 'carrel.sqlite'))
  await migrateToLatest(db)
  return { db, dir: d }
}

test.before(async () => {
  net = await startNetwork()
})

test.after(async () => {
  await net?.close()
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true })
})

test('resolveHandle: our own handles, case-insensitively', async () => {
  const { did, handle } = await net.createAccount('resolvable')
  const res = await resolveHandle(handle)
  assert.is(res.status, 200)
  assert.equal(res.body, { did })
  assert.equal((await resolveHandle(handle.toUpperCase())).body, { did })
  // and through the client
  const viaClient = await net.agent().com.atproto.identity.resolveHandle({ handle })
  assert.is(viaClient.data.did, did)
})

test('resolveHandle: HandleNotFound for unknown local handles and never-resolving TLDs', async () => {
  for (const handle of ['nobody.test', 'someone.example', 'host.invalid', 'x.localhost']) {
    const res = await resolveHandle(handle)
    assert.is(res.status, 400, handle)
    assert.is(res.body.error, 'HandleNotFound', handle)
  }
  const bad = await resolveHandle('not a handle')
  assert.is(bad.status, 400)
  assert.is(bad.body.error, 'InvalidRequest')
})

test('DidResolver: did:plc documents from the PLC directory; unknown DIDs are null', async () => {
  const { did, handle } = await net.createAccount('resolverdoc')
  const resolver = new DidResolver({ plcUrl: () => net.plc.url })
  const ident = await resolver.resolveAtproto(did)
  assert.ok(ident)
  assert.is(ident.did, did)
  assert.is(ident.handle, handle)
  assert.is(ident.pds, net.pds.url)
  assert.match(ident.signingKey ?? '', /^did:key:zQ3s/)
  assert.is(await resolver.resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'), null)
  for (const unsupported of ['did:example:123', 'did:web:example.com:path:user']) {
    const err = await resolver.resolve(unsupported).then(
      () => null,
      (e: Error) => e,
    )
    assert.instance(err, DidResolveError, unsupported)
  }
})

test('embedded PLC: genesis, updates, forks by a higher-priority key, and refusals', async () => {
  const { db } = await openTempDb()
  const dir: EmbeddedPlc = await startEmbeddedPlc(db, 0)
  try {
    assert.match(dir.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const k1 = await Secp256k1Keypair.create()
    const k2 = await Secp256k1Keypair.create()
    const atprotoKey = await Secp256k1Keypair.create()
    const { op: genesis, did } = await plc.createOp({
      signingKey: atprotoKey.did(),
      handle: 'first.test',
      pds: 'http://localhost:1234',
      rotationKeys: [k1.did(), k2.did()],
      signer: signer(k1),
    })
    assert.is((await postOp(dir.url, did, genesis)).status, 200)
    const doc = (await (await fetch(`${dir.url}/${did}`)).json()) as any
    assert.is(doc.id, did)
    assert.equal(doc.alsoKnownAs, ['at://first.test'])

    // a genesis op posted under another DID is refused
    const other = await plc.createOp({
      signingKey: atprotoKey.did(),
      handle: 'other.test',
      pds: 'http://localhost:1234',
      rotationKeys: [k1.did()],
      signer: signer(k1),
    })
    assert.is((await postOp(dir.url, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', other.op)).status, 400)

    // an update by the lower-priority key
    const byK2 = await plc.updateHandleOp(genesis, signer(k2), 'second.test')
    assert.is((await postOp(dir.url, did, byK2)).status, 200)
    assert.equal(((await (await fetch(`${dir.url}/${did}`)).json()) as any).alsoKnownAs, ['at://second.test'])

    // a key that is not a rotation key cannot sign
    const stranger = await Secp256k1Keypair.create()
    const forged = await plc.updateHandleOp(byK2, signer(stranger), 'stolen.test')
    assert.is((await postOp(dir.url, did, forged)).status, 400)

    // k1 outranks k2: it may rewrite history from the genesis op, nullifying k2's update
    const fork = await plc.updateHandleOp(genesis, signer(k1), 'third.test')
    assert.is((await postOp(dir.url, did, fork)).status, 200)
    const audit = (await (await fetch(`${dir.url}/${did}/log/audit`)).json()) as { cid: string; nullified: boolean }[]
    assert.is(audit.length, 3)
    const k2Cid = (await cidForCbor(byK2)).toString()
    assert.equal(
      audit.map((e) => [e.cid === k2Cid, e.nullified]),
      [
        [false, false],
        [true, true],
        [false, false],
      ],
    )
    assert.equal(((await (await fetch(`${dir.url}/${did}`)).json()) as any).alsoKnownAs, ['at://third.test'])
    // k2 cannot fork back over k1's op
    const k2Again = await plc.updateHandleOp(genesis, signer(k2), 'fourth.test')
    assert.is((await postOp(dir.url, did, k2Again)).status, 400)
    const log = (await (await fetch(`${dir.url}/${did}/log`)).json()) as unknown[]
    assert.is(log.length, 2)

    // two valid next ops racing on the same prev: exactly one is accepted
    const a = await plc.updateHandleOp(fork, signer(k1), 'race-a.test')
    const b = await plc.updateHandleOp(fork, signer(k1), 'race-b.test')
    const results = await Promise.all([postOp(dir.url, did, a), postOp(dir.url, did, b)])
    assert.equal(results.map((r) => r.status).sort(), [200, 400])
    assert.is(((await (await fetch(`${dir.url}/${did}/log`)).json()) as unknown[]).length, 3)

    // the same op twice is refused, and unknown DIDs are 404
    assert.not.equal((await postOp(dir.url, did, a)).status, 200)
    assert.is((await fetch(`${dir.url}/did:plc:bbbbbbbbbbbbbbbbbbbbbbbb`)).status, 404)
  } finally {
    await dir.close()
    await db.close()
  }
})

test('embedded PLC: the operation log survives closing and reopening the database', async () => {
  const first = await openTempDb()
  let dir = await startEmbeddedPlc(first.db, 0)
  const k1 = await Secp256k1Keypair.create()
  const { op, did } = await plc.createOp({
    signingKey: k1.did(),
    handle: 'persist.test',
    pds: 'http://localhost:1234',
    rotationKeys: [k1.did()],
    signer: signer(k1),
  })
  assert.is((await postOp(dir.url, did, op)).status, 200)
  const before = (await (await fetch(`${dir.url}/${did}`)).json()) as any
  await dir.close()
  await first.db.close()

  const again = await openTempDb(first.dir)
  dir = await startEmbeddedPlc(again.db, 0)
  try {
    const res = await fetch(`${dir.url}/${did}`)
    assert.is(res.status, 200)
    assert.equal(await res.json(), before)
    // and it accepts the next op on top of the persisted one
    const next = await plc.updateHandleOp(op, signer(k1), 'persist2.test')
    assert.is((await postOp(dir.url, did, next)).status, 200)
  } finally {
    await dir.close()
    await again.db.close()
  }
})

test.run()
