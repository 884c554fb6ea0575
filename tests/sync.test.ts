// The sync API, verified from outside: CAR exports and record proofs are checked with
// @atproto/repo against the signing key published in the account's DID document.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { formatDidKey, multibaseToBytes, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { parseCid } from '@atproto/lex-data'
import {
  MemoryBlockstore,
  readCar,
  readCarWithRoot,
  Repo,
  verifyDiffCar,
  verifyProofs,
  verifyRecords,
  verifyRepo,
  verifyRepoCar,
} from '@atproto/repo'
import { startNetwork, type TestNetwork } from './_harness.ts'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string }
let aliceKey: string

async function signingKeyOf(did: string): Promise<string> {
  const res = await fetch(`${net.plc.url}/${encodeURIComponent(did)}`)
  assert.is(res.status, 200)
  const doc = (await res.json()) as { verificationMethod: { id: string; type: string; publicKeyMultibase: string }[] }
  const vm = doc.verificationMethod.find((m) => m.id.endsWith('#atproto'))
  assert.ok(vm, 'DID document has an #atproto key')
  if (vm.type === 'Multikey') return `did:key:${vm.publicKeyMultibase}`
  // legacy form (this PLC server's documents): the raw, uncompressed key in base58btc
  assert.is(vm.type, 'EcdsaSecp256k1VerificationKey2019')
  return formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(vm.publicKeyMultibase))
}

async function xrpcError(p: Promise<unknown>): Promise<{ error?: string; status?: number }> {
  try {
    await p
  } catch (err) {
    return err as { error?: string; status?: number }
  }
  assert.unreachable('expected an XRPC error')
  return {}
}

async function writeBooks(agent: AtpAgent, did: string, n: number, prefix: string): Promise<{ rkey: string; cid: string }[]> {
  const res = await agent.com.atproto.repo.applyWrites({
    repo: did,
    writes: Array.from({ length: n }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'com.example.sync.note',
      rkey: `${prefix}${String(i).padStart(4, '0')}`,
      value: { $type: 'com.example.sync.note', text: `${prefix} note ${i}`, n: i },
    })),
  })
  return (res.data.results ?? []).map((r) => {
    const uri = (r as { uri: string }).uri
    return { rkey: uri.split('/').pop()!, cid: (r as { cid: string }).cid }
  })
}

async function getRepoCar(did: string, since?: string): Promise<{ bytes: Uint8Array; res: Response }> {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', net.url)
  url.searchParams.set('did', did)
  if (since) url.searchParams.set('since', since)
  const res = await fetch(url)
  assert.is(res.status, 200)
  return { bytes: new Uint8Array(await res.arrayBuffer()), res }
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount()
  aliceKey = await signingKeyOf(alice.did)
})

test.after(async () => {
  await net?.close()
})

test('getRepo: the full CAR verifies against the DID document key and holds every record', async () => {
  const written = await writeBooks(alice.agent, alice.did, 120, 'a')
  const head = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  const { bytes, res } = await getRepoCar(alice.did)
  assert.is(res.headers.get('content-type'), 'application/vnd.ipld.car')

  const { root } = await readCarWithRoot(bytes)
  assert.is(root.toString(), head.data.cid, 'roots[0] is the current commit')
  const verified = await verifyRepoCar(bytes, alice.did, aliceKey)
  assert.is(verified.commit.cid.toString(), head.data.cid)
  assert.is(verified.commit.rev, head.data.rev)
  const byKey = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  for (const w of written) assert.is(byKey.get(`com.example.sync.note/${w.rkey}`), w.cid)

  // a CAR signed for someone else's key must not verify
  const other = await net.createAccount()
  const otherKey = await signingKeyOf(other.did)
  let failed = false
  try {
    await verifyRepoCar(bytes, alice.did, otherKey)
  } catch {
    failed = true
  }
  assert.ok(failed, 'verification with the wrong key fails')

  // the client library reads the same bytes
  const viaClient = await alice.agent.com.atproto.sync.getRepo({ did: alice.did })
  assert.equal(viaClient.data.length, bytes.length)
})

test('getRepo: exports stay consistent while commits land', async () => {
  const exports = Array.from({ length: 4 }, () => getRepoCar(alice.did))
  const writes = writeBooks(alice.agent, alice.did, 40, 'c')
  const [cars] = await Promise.all([Promise.all(exports), writes])
  for (const { bytes } of cars) {
    const v = await verifyRepoCar(bytes, alice.did, aliceKey)
    assert.ok(v.creates.length >= 120)
  }
  const after = await getRepoCar(alice.did)
  const v = await verifyRepoCar(after.bytes, alice.did, aliceKey)
  assert.ok(v.creates.some((c) => c.rkey === 'c0039'))
})

test('getRepo?since: only the new blocks, and they apply on top of the old repo', async () => {
  const { bytes: before } = await getRepoCar(alice.did)
  const { root: beforeRoot, blocks: beforeBlocks } = await readCarWithRoot(before)
  const oldHead = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  const fresh = await writeBooks(alice.agent, alice.did, 5, 's')
  const head = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })

  const { bytes } = await getRepoCar(alice.did, oldHead.data.rev)
  const { root, blocks } = await readCarWithRoot(bytes)
  assert.is(root.toString(), head.data.cid)
  assert.ok(blocks.has(root), 'the new commit is included')
  for (const f of fresh) assert.ok(blocks.has(parseCid(f.cid)), `new record ${f.rkey} is included`)
  let oldRecords = 0
  for (const [cid] of beforeBlocks) if (blocks.has(cid)) oldRecords++
  assert.is(oldRecords, 0, 'no block from before `since` is sent again')
  assert.ok(bytes.length < before.length / 4, 'a diff is much smaller than the repo')

  // the diff verifies as the next step from the old repo
  const storage = new MemoryBlockstore(beforeBlocks)
  const oldRepo = await Repo.load(storage, beforeRoot)
  const diff = await verifyDiffCar(oldRepo, bytes, alice.did, aliceKey)
  const created = diff.writes.filter((w) => w.action === 'create').map((w) => w.rkey).sort()
  assert.equal(created, fresh.map((f) => f.rkey).sort())

  // since = current rev: just the commit
  const { bytes: none } = await getRepoCar(alice.did, head.data.rev)
  const only = await readCarWithRoot(none)
  assert.is(only.blocks.size, 1)
  assert.ok(only.blocks.has(parseCid(head.data.cid)))
})

test('getRecord: inclusion proofs and non-inclusion proofs (deleted, never written) verify', async () => {
  const [rec] = await writeBooks(alice.agent, alice.did, 1, 'p')
  const proof = await alice.agent.com.atproto.sync.getRecord({ did: alice.did, collection: 'com.example.sync.note', rkey: rec!.rkey })
  const present = await verifyProofs(
    proof.data,
    [{ collection: 'com.example.sync.note', rkey: rec!.rkey, cid: parseCid(rec!.cid) }],
    alice.did,
    aliceKey,
  )
  assert.is(present.verified.length, 1)
  assert.is(present.unverified.length, 0)
  const records = await verifyRecords(proof.data, alice.did, aliceKey)
  const found = records.find((r) => r.rkey === rec!.rkey)
  assert.is((found?.record as { text?: string } | null)?.text, 'p note 0')

  // a false claim does not verify
  const wrong = await verifyProofs(proof.data, [{ collection: 'com.example.sync.note', rkey: rec!.rkey, cid: null }], alice.did, aliceKey)
  assert.is(wrong.verified.length, 0)

  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'com.example.sync.note', rkey: rec!.rkey })
  const gone = await alice.agent.com.atproto.sync.getRecord({ did: alice.did, collection: 'com.example.sync.note', rkey: rec!.rkey })
  const absent = await verifyProofs(gone.data, [{ collection: 'com.example.sync.note', rkey: rec!.rkey, cid: null }], alice.did, aliceKey)
  assert.is(absent.verified.length, 1, 'deleted record proven absent')
  const stale = await verifyProofs(gone.data, [{ collection: 'com.example.sync.note', rkey: rec!.rkey, cid: parseCid(rec!.cid) }], alice.did, aliceKey)
  assert.is(stale.verified.length, 0, 'the old version is not proven present')

  const never = await alice.agent.com.atproto.sync.getRecord({ did: alice.did, collection: 'com.example.nothing', rkey: 'zzz' })
  const neverClaim = await verifyProofs(never.data, [{ collection: 'com.example.nothing', rkey: 'zzz', cid: null }], alice.did, aliceKey)
  assert.is(neverClaim.verified.length, 1, 'never-written key proven absent')

  // across a tree of several layers: keys all over it, present and absent
  const listed = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'com.example.sync.note', limit: 100 })
  assert.ok(listed.data.records.length >= 100)
  for (const r of listed.data.records.filter((_, i) => i % 9 === 0)) {
    const rkey = r.uri.split('/').pop()!
    const res = await alice.agent.com.atproto.sync.getRecord({ did: alice.did, collection: 'com.example.sync.note', rkey })
    const claims = [
      { collection: 'com.example.sync.note', rkey, cid: parseCid(r.cid) },
      { collection: 'com.example.sync.note', rkey: `${rkey}x`, cid: null },
    ]
    const present = await verifyProofs(res.data, claims.slice(0, 1), alice.did, aliceKey)
    assert.is(present.verified.length, 1, `${rkey} proven present`)
    const near = await alice.agent.com.atproto.sync.getRecord({ did: alice.did, collection: 'com.example.sync.note', rkey: `${rkey}x` })
    const absent = await verifyProofs(near.data, claims.slice(1), alice.did, aliceKey)
    assert.is(absent.verified.length, 1, `${rkey}x proven absent`)
  }
})

test('getLatestCommit and getRepoStatus', async () => {
  const res = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'com.example.sync.note',
    record: { text: 'latest' },
  })
  const latest = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  assert.is(latest.data.cid, res.data.commit!.cid)
  assert.is(latest.data.rev, res.data.commit!.rev)

  const status = await alice.agent.com.atproto.sync.getRepoStatus({ did: alice.did })
  assert.equal(status.data, { did: alice.did, active: true, rev: latest.data.rev })

  const unknown = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  assert.is((await xrpcError(alice.agent.com.atproto.sync.getRepoStatus({ did: unknown }))).error, 'RepoNotFound')
  assert.is((await xrpcError(alice.agent.com.atproto.sync.getLatestCommit({ did: unknown }))).error, 'RepoNotFound')
  const repoErr = await xrpcError(alice.agent.com.atproto.sync.getRepo({ did: unknown }))
  assert.is(repoErr.error, 'RepoNotFound')
  assert.is(repoErr.status, 400)
})

test('getRepo refuses a deactivated repo to everyone but its own account', async () => {
  const carol = await net.createAccount()
  net.pds.ctx.accounts.setDeactivated(carol.did, new Date().toISOString())
  assert.is((await xrpcError(net.agent().com.atproto.sync.getRepo({ did: carol.did }))).error, 'RepoDeactivated')
  // its owner may still export it (to move away), as in the reference
  const own = await carol.agent.com.atproto.sync.getRepo({ did: carol.did })
  assert.is((await readCarWithRoot(own.data)).root.toString(), net.pds.ctx.repo.roots.get(carol.did)!.cid)
  const status = await carol.agent.com.atproto.sync.getRepoStatus({ did: carol.did })
  assert.equal(status.data, { did: carol.did, active: false, status: 'deactivated' })
  net.pds.ctx.accounts.setTakedown(carol.did, 'mod-1')
  assert.is((await xrpcError(carol.agent.com.atproto.sync.getLatestCommit({ did: carol.did }))).error, 'RepoTakendown')
})

test('listRepos pages through every repo with a DID cursor', async () => {
  const made = [await net.createAccount(), await net.createAccount(), await net.createAccount()]
  const seen: { did: string; head: string; rev: string; active?: boolean }[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await alice.agent.com.atproto.sync.listRepos({ limit: 2, cursor })
    assert.ok(page.data.repos.length <= 2)
    seen.push(...page.data.repos)
    cursor = page.data.cursor
    pages++
  } while (cursor && pages < 50)
  const dids = seen.map((r) => r.did)
  assert.equal(dids, [...dids].sort(), 'DID order')
  assert.is(new Set(dids).size, dids.length, 'no repo twice')
  for (const m of made.concat([{ ...alice, handle: '', password: '' }])) assert.ok(dids.includes(m.did), `${m.did} listed`)
  assert.ok(pages >= 3)
  const a = seen.find((r) => r.did === alice.did)!
  const latest = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  assert.is(a.head, latest.data.cid)
  assert.is(a.rev, latest.data.rev)
  assert.is(a.active, true)

  const limitErr = await xrpcError(alice.agent.com.atproto.sync.listRepos({ limit: 1001 }))
  assert.is(limitErr.status, 400)
})

test('getBlocks returns the requested blocks, or BlockNotFound', async () => {
  const [a, b] = await writeBooks(alice.agent, alice.did, 2, 'g')
  const latest = await alice.agent.com.atproto.sync.getLatestCommit({ did: alice.did })
  const res = await alice.agent.com.atproto.sync.getBlocks({ did: alice.did, cids: [a!.cid, b!.cid, latest.data.cid] })
  const { roots, blocks } = await readCar(res.data)
  assert.is(roots.length, 0)
  assert.is(blocks.size, 3)
  assert.ok(blocks.has(parseCid(a!.cid)) && blocks.has(parseCid(b!.cid)) && blocks.has(parseCid(latest.data.cid)))
  const raw = await fetch(`${net.url}/xrpc/com.atproto.sync.getBlocks?did=${alice.did}&cids=${a!.cid}`)
  assert.is(raw.headers.get('content-type'), 'application/vnd.ipld.car')

  const missing = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpa'
  const err = await xrpcError(alice.agent.com.atproto.sync.getBlocks({ did: alice.did, cids: [a!.cid, missing] }))
  assert.is(err.error, 'BlockNotFound')
})

test('a repo of many records exports and verifies (paging across pages)', async () => {
  const bob = await net.createAccount()
  for (let i = 0; i < 15; i++) await writeBooks(bob.agent, bob.did, 200, `b${i}-`)
  const bobKey = await signingKeyOf(bob.did)
  const mid = await bob.agent.com.atproto.sync.getLatestCommit({ did: bob.did })
  const midCar = await readCarWithRoot((await getRepoCar(bob.did)).bytes)
  // large records too: pages are bounded in bytes as well as in rows
  const big = 'x'.repeat(700_000)
  for (let i = 0; i < 8; i++) {
    await bob.agent.com.atproto.repo.createRecord({ repo: bob.did, collection: 'com.example.sync.big', rkey: `big${i}`, record: { text: big + i } })
  }
  const { bytes } = await getRepoCar(bob.did)
  assert.ok(bytes.length > 5_600_000)
  const { root, blocks } = await readCarWithRoot(bytes)
  const v = await verifyRepo(blocks, root, bob.did, bobKey)
  assert.is(v.creates.length, 3008)

  // since, across byte-bounded pages: the big records apply on top of the earlier repo
  const diffCar = (await getRepoCar(bob.did, mid.data.rev)).bytes
  assert.ok(diffCar.length > 5_600_000 && diffCar.length < bytes.length)
  const oldRepo = await Repo.load(new MemoryBlockstore(midCar.blocks), midCar.root)
  const diff = await verifyDiffCar(oldRepo, diffCar, bob.did, bobKey)
  assert.equal(diff.writes.map((w) => w.rkey).sort(), Array.from({ length: 8 }, (_, i) => `big${i}`))
})

test.run()
