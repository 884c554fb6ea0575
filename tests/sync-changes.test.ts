// app.carrel.sync.getChanges from outside: a device that was offline catches up with JSON pages
// of record-level changes. Every test keeps a replica as a device would (create and update are
// upserts, delete removes) and compares it with the repo as listRecords serves it.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startPds } from '../src/pds.ts'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

type Change = { rev: string; action: string; collection: string; rkey: string; cid?: string; record?: Record<string, unknown> }
type Page = { rev: string; changes: Change[]; cursor?: string }
type Replica = Map<string, { cid: string; record: unknown }>

const NOTE = 'com.example.sync.note'
const TAG = 'com.example.sync.tag'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string }

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('changes-alice')
  alice = { agent: withCarrelLexicons(a.agent), did: a.did }
})

test.after(async () => {
  await net?.close()
})

function note(text: string, extra: Record<string, unknown> = {}) {
  return { $type: NOTE, text, ...extra }
}

async function put(agent: AtpAgent, did: string, rkey: string, text: string, collection = NOTE): Promise<string> {
  const res = await agent.com.atproto.repo.putRecord({ repo: did, collection, rkey, record: { ...note(text), $type: collection } })
  return res.data.commit!.rev
}

async function del(agent: AtpAgent, did: string, rkey: string, collection = NOTE): Promise<string> {
  const res = await agent.com.atproto.repo.deleteRecord({ repo: did, collection, rkey })
  return res.data.commit!.rev
}

async function getChanges(agent: AtpAgent, params: Record<string, unknown>): Promise<Page> {
  return (await agent.call('app.carrel.sync.getChanges', params)).data as Page
}

/** Applies one page to a replica, as a device would. */
function apply(replica: Replica, page: Page): void {
  for (const c of page.changes) {
    const path = `${c.collection}/${c.rkey}`
    if (c.action === 'delete') replica.delete(path)
    else replica.set(path, { cid: c.cid!, record: c.record })
  }
}

/** Every page from `since` on; the replica ends at the last page's rev. */
async function catchUp(agent: AtpAgent, did: string, replica: Replica, since?: string, extra: Record<string, unknown> = {}) {
  let cursor: string | undefined
  let pages = 0
  for (;;) {
    const page = await getChanges(agent, { repo: did, since, cursor, ...extra })
    assertPageOrder(page)
    apply(replica, page)
    pages++
    if (!page.cursor) return { rev: page.rev, pages }
    cursor = page.cursor
  }
}

function assertPageOrder(page: Page): void {
  const paths = new Set<string>()
  for (let i = 0; i < page.changes.length; i++) {
    const c = page.changes[i]!
    const path = `${c.collection}/${c.rkey}`
    assert.not.ok(paths.has(path), `${path} twice in one page`)
    paths.add(path)
    if (i > 0) assert.ok(page.changes[i - 1]!.rev <= c.rev, 'changes oldest first')
    assert.ok(c.rev <= page.rev, 'no change newer than the page rev')
  }
}

/** The repo as listRecords serves it, in the given collections. */
async function repoState(agent: AtpAgent, did: string, collections = [NOTE, TAG]): Promise<Replica> {
  const out: Replica = new Map()
  for (const collection of collections) {
    let cursor: string | undefined
    do {
      const res = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor })
      for (const r of res.data.records) out.set(`${collection}/${r.uri.split('/').pop()}`, { cid: r.cid, record: r.value })
      cursor = res.data.records.length === 100 ? res.data.cursor : undefined
    } while (cursor)
  }
  return out
}

function assertSameState(replica: Replica, state: Replica, label: string): void {
  assert.equal([...replica.keys()].sort(), [...state.keys()].sort(), `${label}: the same record paths`)
  for (const [path, want] of state) {
    const got = replica.get(path)!
    assert.is(got.cid, want.cid, `${label}: ${path} cid`)
    assert.equal(got.record, want.record, `${label}: ${path} value`)
  }
}

async function currentRev(did: string): Promise<string> {
  const res = await fetch(`${net.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)
  return ((await res.json()) as { rev: string }).rev
}

test('after create, update and delete sequences: each changed path once, with its latest op and value', async () => {
  const { agent, did } = alice
  await put(agent, did, 'c', 'C before')
  await put(agent, did, 'd', 'D before')
  await put(agent, did, 'k', 'K untouched')
  const since = await currentRev(did)

  await put(agent, did, 'a', 'A first')
  await put(agent, did, 'a', 'A second')
  await put(agent, did, 'b', 'B short-lived')
  const bDeletedAt = await del(agent, did, 'b')
  await put(agent, did, 'c', 'C after')
  await put(agent, did, 'c', 'C after again')
  await del(agent, did, 'd')
  await put(agent, did, 'e', 'E first life')
  await del(agent, did, 'e')
  await put(agent, did, 'e', 'E second life')

  const page = await getChanges(agent, { repo: did, since })
  assert.is(page.cursor, undefined)
  assert.is(page.rev, await currentRev(did))
  const byKey = new Map(page.changes.map((c) => [c.rkey, c]))
  // oldest first, by the rev of each path's latest op
  assert.equal(page.changes.map((c) => c.rkey), ['a', 'b', 'c', 'd', 'e'])
  assert.equal(
    page.changes.map((c) => [c.rkey, c.action]),
    [
      ['a', 'create'],
      ['b', 'delete'],
      ['c', 'update'],
      ['d', 'delete'],
      ['e', 'create'],
    ],
  )
  // created and deleted after `since`: reported once, as deleted, at the delete's rev
  assert.is(byKey.get('b')!.rev, bDeletedAt)
  assert.is(byKey.get('b')!.cid, undefined)
  assert.is(byKey.get('b')!.record, undefined)
  for (const rkey of ['a', 'c', 'e']) {
    const rec = await agent.com.atproto.repo.getRecord({ repo: did, collection: NOTE, rkey })
    assert.is(byKey.get(rkey)!.cid, rec.data.cid, `${rkey}: the current CID`)
    assert.equal(byKey.get(rkey)!.record, rec.data.value, `${rkey}: the current value`)
  }
  assert.is((byKey.get('a')!.record as { text: string }).text, 'A second')

  // without `since`: every record, as created, and the deletions still kept
  const all = await getChanges(agent, { repo: did })
  assert.equal(
    all.changes.map((c) => [c.rkey, c.action]).sort(),
    [
      ['a', 'create'],
      ['b', 'delete'],
      ['c', 'create'],
      ['d', 'delete'],
      ['e', 'create'],
      ['k', 'create'],
    ],
  )
  // at the current rev, nothing is new
  const none = await getChanges(agent, { repo: did, since: page.rev })
  assert.equal(none.changes, [])
  assert.is(none.rev, page.rev)
})

const collectionOf = (i: number) => (i % 3 === 0 ? TAG : NOTE)

test('a device that pages while writes land ends with the repo as it is, with nothing skipped', async () => {
  const a = await net.createAccount('changes-pager')
  const agent = withCarrelLexicons(a.agent)
  const did = a.did
  await agent.com.atproto.repo.applyWrites({
    repo: did,
    writes: Array.from({ length: 120 }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: collectionOf(i),
      rkey: `r${String(i).padStart(3, '0')}`,
      value: { $type: collectionOf(i), text: `record ${i}` },
    })),
  })

  // a full sync in pages of 25, with writes between the pages: an update of a record already
  // delivered, a delete of one not yet delivered, a create, and a delete of a delivered one
  const replica: Replica = new Map()
  let cursor: string | undefined
  let pages = 0
  let rev: string
  for (;;) {
    const page = await getChanges(agent, { repo: did, cursor, limit: 25 })
    assertPageOrder(page)
    apply(replica, page)
    pages++
    if (!page.cursor) {
      rev = page.rev
      break
    }
    cursor = page.cursor
    const delivered = [...replica.keys()].filter((p) => p.startsWith(NOTE)).map((p) => p.split('/')[1]!)
    const n = pages
    await put(agent, did, delivered[0]!, `updated while paging ${n}`)
    const undelivered = 120 - n
    await del(agent, did, `r${String(undelivered).padStart(3, '0')}`, collectionOf(undelivered))
    await put(agent, did, `new${n}`, `created while paging ${n}`)
    await del(agent, did, delivered[delivered.length - 1]!)
  }
  assert.ok(pages >= 5, `${pages} pages`)
  assert.is(rev, await currentRev(did))
  assertSameState(replica, await repoState(agent, did), 'after the paged full sync')

  // offline for a while, then catch up from the rev it reached, a few at a time
  for (let i = 0; i < 30; i++) await put(agent, did, `later${i % 7}`, `later write ${i}`)
  await del(agent, did, 'r001')
  const caught = await catchUp(agent, did, replica, rev, { limit: 3 })
  assert.ok(caught.pages >= 3)
  assertSameState(replica, await repoState(agent, did), 'after catching up')

  // a writer running concurrently with a pager: once the pager reaches a page without a
  // cursor and the writer has stopped, one more catch-up makes the replica exact
  let writing = true
  const writer = (async () => {
    for (let i = 0; writing && i < 200; i++) {
      if (i % 4 === 3) await del(agent, did, `busy${(i - 1) % 9}`).catch(() => undefined)
      else await put(agent, did, `busy${i % 9}`, `busy ${i}`)
    }
  })()
  const fresh: Replica = new Map()
  const during = await catchUp(agent, did, fresh, undefined, { limit: 7 })
  writing = false
  await writer
  await catchUp(agent, did, fresh, during.rev, { limit: 7 })
  assertSameState(fresh, await repoState(agent, did), 'paged during concurrent writes')
})

test('collections: only changes to those collections', async () => {
  const a = await net.createAccount('changes-filter')
  const agent = withCarrelLexicons(a.agent)
  const since = await currentRev(a.did)
  await put(agent, a.did, 'n1', 'note', NOTE)
  await put(agent, a.did, 't1', 'tag', TAG)
  await put(agent, a.did, 'o1', 'other', 'com.example.sync.other')
  await del(agent, a.did, 't1', TAG)
  await put(agent, a.did, 't2', 'tag 2', TAG)
  const page = await getChanges(agent, { repo: a.did, since, collections: [TAG] })
  assert.equal(page.changes.map((c) => [c.collection, c.rkey, c.action]), [
    [TAG, 't1', 'delete'],
    [TAG, 't2', 'create'],
  ])
  const two = await getChanges(agent, { repo: a.did, since, collections: [TAG, 'com.example.sync.other'] })
  assert.equal(two.changes.map((c) => c.rkey).sort(), ['o1', 't1', 't2'])
})

test('a page of large records ends early with a cursor (bounded by bytes, not only by limit)', async () => {
  const a = await net.createAccount('changes-big')
  const agent = withCarrelLexicons(a.agent)
  const since = await currentRev(a.did)
  for (let i = 0; i < 6; i++) await put(agent, a.did, `big${i}`, `${i}`.repeat(900_000))
  const first = await getChanges(agent, { repo: a.did, since, limit: 100 })
  assert.ok(first.changes.length < 6 && first.changes.length >= 1, `${first.changes.length} records in the first page`)
  assert.ok(first.cursor, 'a cursor for the rest')
  const replica: Replica = new Map()
  await catchUp(agent, a.did, replica, since, { limit: 100 })
  assert.is(replica.size, 6)
})

test('the changes are public like listRecords, and follow the account status', async () => {
  const a = await net.createAccount('changes-status')
  const agent = withCarrelLexicons(a.agent)
  await put(agent, a.did, 'x', 'x')
  const stranger = withCarrelLexicons(net.agent())
  const page = await getChanges(stranger, { repo: a.did })
  assert.equal(page.changes.map((c) => c.rkey), ['x'])
  const byHandle = await getChanges(stranger, { repo: a.handle })
  assert.equal(byHandle, page)

  net.pds.ctx.accounts.setDeactivated(a.did, new Date().toISOString())
  await expectXrpcError(() => getChanges(stranger, { repo: a.did }), 400, 'RepoDeactivated')
  await expectXrpcError(() => getChanges(agent, { repo: a.did }), 400, 'RepoDeactivated')
  net.pds.ctx.accounts.setDeactivated(a.did, null)
  net.pds.ctx.accounts.setTakedown(a.did, 'mod-action-1')
  await expectXrpcError(() => getChanges(stranger, { repo: a.did }), 400, 'RepoTakendown')
  net.pds.ctx.accounts.setTakedown(a.did, null)
  assert.equal(await getChanges(stranger, { repo: a.did }), page, 'served again, unchanged')

  await expectXrpcError(() => getChanges(stranger, { repo: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
  await expectXrpcError(() => getChanges(stranger, { repo: 'nobody.test' }), 400, 'RepoNotFound')
})

test('malformed parameters are refused with InvalidRequest', async () => {
  const cases: Record<string, string>[] = [
    { repo: alice.did, since: 'not-a-tid' },
    { repo: alice.did, cursor: 'garbage' },
    { repo: alice.did, cursor: '3jzfcijpj2z2a:-1' },
    { repo: alice.did, cursor: 'not-a-tid-at-all:3' },
    { repo: alice.did, limit: '0' },
    { repo: alice.did, limit: '1001' },
    { repo: alice.did, collections: 'not an nsid' },
  ]
  for (const params of cases) {
    const res = await rawXrpc(net.url, 'app.carrel.sync.getChanges', { params })
    assert.is(res.status, 400, JSON.stringify(params))
    assert.is(res.body.error, 'InvalidRequest', JSON.stringify(params))
  }
})

test('after pruning: SinceTooOld for a since (or cursor) the log no longer reaches; re-sync from getRepo works', async () => {
  // deletions are kept no time at all: each commit prunes the ones before it
  const pruned = await startNetwork({ PDS_SYNC_CHANGES_RETENTION_MS: '0' })
  try {
    const a = await pruned.createAccount('changes-pruned')
    const agent = withCarrelLexicons(a.agent)
    const did = a.did
    await put(agent, did, 'a', 'A')
    const afterB = await put(agent, did, 'b', 'B')
    const deletedAt = await del(agent, did, 'a')
    // not pruned yet: the deletion is the newest change
    const before = (await agent.call('app.carrel.sync.getChanges', { repo: did, since: afterB })).data as Page
    assert.equal(before.changes.map((c) => [c.rkey, c.action]), [['a', 'delete']])
    // a cursor into the log, taken before the pruning
    const paging = (await agent.call('app.carrel.sync.getChanges', { repo: did, limit: 1 })).data as Page
    assert.ok(paging.cursor)

    const afterC = await put(agent, did, 'c', 'C') // this commit prunes the tombstone of 'a'

    const tooOld = await rawXrpc(pruned.url, 'app.carrel.sync.getChanges', { params: { repo: did, since: afterB } })
    assert.is(tooOld.status, 400)
    assert.is(tooOld.body.error, 'SinceTooOld')
    assert.match(tooOld.body.message, /getRepo/)
    await expectXrpcError(() => agent.call('app.carrel.sync.getChanges', { repo: did, cursor: paging.cursor }), 400, 'SinceTooOld')

    // a device at or after the pruned deletion is served
    const fromDelete = (await agent.call('app.carrel.sync.getChanges', { repo: did, since: deletedAt })).data as Page
    assert.equal(fromDelete.changes.map((c) => [c.rkey, c.action]), [['c', 'create']])
    // a new device gets every record, without the pruned deletion
    const all = (await agent.call('app.carrel.sync.getChanges', { repo: did })).data as Page
    assert.equal(all.changes.map((c) => [c.rkey, c.action]), [
      ['b', 'create'],
      ['c', 'create'],
    ])

    // what SinceTooOld asks for: the whole repo, then changes from its rev
    const car = await fetch(`${pruned.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
    assert.is(car.status, 200)
    await car.arrayBuffer()
    const head = (await (await fetch(`${pruned.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)).json()) as { rev: string }
    assert.is(head.rev, afterC)
    await put(agent, did, 'd', 'D')
    const resumed = (await agent.call('app.carrel.sync.getChanges', { repo: did, since: head.rev })).data as Page
    assert.equal(resumed.changes.map((c) => [c.rkey, c.action]), [['d', 'create']])
  } finally {
    await pruned.close()
  }
})

test('deletions are kept across commits with the default retention', async () => {
  const a = await net.createAccount('changes-kept')
  const agent = withCarrelLexicons(a.agent)
  await put(agent, a.did, 'gone', 'soon deleted')
  const since = await currentRev(a.did)
  await del(agent, a.did, 'gone')
  for (let i = 0; i < 3; i++) await put(agent, a.did, `after${i}`, 'later')
  const page = await getChanges(agent, { repo: a.did, since })
  assert.equal(page.changes.map((c) => [c.rkey, c.action]), [
    ['gone', 'delete'],
    ['after0', 'create'],
    ['after1', 'create'],
    ['after2', 'create'],
  ])
})

test('when a repo is removed from the feed (deleteRepoInTx), it answers SinceTooOld until it has seen the repo again', async () => {
  const a = await net.createAccount('changes-reset')
  const agent = withCarrelLexicons(a.agent)
  const did = a.did
  const firstRev = await put(agent, did, 'one', '1')
  await put(agent, did, 'two', '2')
  const oldRev = await currentRev(did)
  const untouched = await getChanges(alice.agent, { repo: alice.did })

  // as account deletion or a repo import will: every hook's rows for the DID, in one transaction
  const ctx = net.pds.ctx
  ctx.db.sqlite.transaction(() => {
    for (const hook of ctx.repo.hooks) hook.deleteRepoInTx?.(did)
  })()

  await expectXrpcError(() => getChanges(agent, { repo: did }), 400, 'SinceTooOld')
  await expectXrpcError(() => getChanges(agent, { repo: did, since: firstRev }), 400, 'SinceTooOld')
  assert.equal((await getChanges(agent, { repo: did, since: oldRev })).changes, [], 'a device at the current rev has nothing to miss')
  assert.equal(await getChanges(alice.agent, { repo: alice.did }), untouched, "another account's changes are untouched")

  // the next commit hands the repo to the feed again, whole
  await put(agent, did, 'three', '3')
  const replica: Replica = new Map()
  await catchUp(agent, did, replica)
  assertSameState(replica, await repoState(agent, did), 'after the reset')
  const fromOld = await getChanges(agent, { repo: did, since: oldRev })
  assert.equal(fromOld.changes.map((c) => c.rkey), ['three'])
})

test('an existing database gets the feed by migration: every record, reaching back to the current rev', async () => {
  const a = await net.createAccount('changes-migrated')
  const agent = withCarrelLexicons(a.agent)
  await put(agent, a.did, 'm1', 'before the upgrade')
  await put(agent, a.did, 'm2', 'before the upgrade')
  const early = await currentRev(a.did)
  await del(agent, a.did, 'm1')
  await put(agent, a.did, 'm3', 'before the upgrade')
  const rev = await currentRev(a.did)

  // the database as the server before this feature left it: without the sync tables
  const port = String(net.pds.http.port)
  await net.pds.close()
  const db = new Database(join(net.dataDir, 'carrel.sqlite'))
  db.exec(`DROP TABLE sync_settings; DROP TABLE sync_device_state; DROP TABLE sync_change_floor; DROP TABLE sync_change;
           DELETE FROM kysely_migration WHERE name = '006_sync_state'`)
  // nor those of the later migrations (kysely applies migrations in name order only)
  db.exec(`DROP TABLE update_release; DROP TABLE update_artifact; DROP TABLE update_delta; DROP TABLE update_install;
           DROP TABLE update_index_state; DROP TABLE update_rollout_key; DELETE FROM kysely_migration WHERE name = '008_updates'`)
  db.close()
  net.pds = await startPds({ ...net.env, PDS_PORT: port })

  const all = await getChanges(agent, { repo: a.did })
  assert.equal(all.changes.map((c) => [c.rkey, c.action]), [
    ['m2', 'create'],
    ['m3', 'create'],
  ])
  const replica: Replica = new Map()
  apply(replica, all)
  assertSameState(replica, await repoState(agent, a.did, [NOTE]), 'migrated')
  await expectXrpcError(() => getChanges(agent, { repo: a.did, since: early }), 400, 'SinceTooOld')
  assert.equal((await getChanges(agent, { repo: a.did, since: rev })).changes, [])
  await put(agent, a.did, 'm4', 'after the upgrade')
  assert.equal((await getChanges(agent, { repo: a.did, since: rev })).changes.map((c) => c.rkey), ['m4'])
})

test.run()
