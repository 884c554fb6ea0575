// A record the host takes down (com.atproto.admin.updateSubjectStatus with a strongRef) leaves
// the derived indexes in the takedown's own transaction and comes back when it is lifted: a book
// leaves searchBooks and getStats, a release is no longer offered by checkForUpdates. The owner's
// later writes to a taken-down path stay out too, and a rebuild from the repos makes exactly the
// rows the live index holds, takedowns included. Another account's books are never touched.
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { derivedIndexes } from '../src/indexer/derived-indexes.ts'
import { rebuildIndexes } from '../src/indexer/rebuild.ts'
import { adminAgent } from './_admin.ts'
import { withCarrelLexicons } from './_carrel-lexicons.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { addBook, BOOK, libraryRows, search } from './_library.ts'
import { artifact, checkForUpdates, publish, uploadArtifact } from './_updates.ts'

const STRONG_REF = 'com.atproto.repo.strongRef'

let net: TestNetwork
let admin: AtpAgent
let alice: TestAccount & { lib: AtpAgent }
let bob: TestAccount & { lib: AtpAgent }

test.before(async () => {
  net = await startNetwork()
  admin = adminAgent(net.url)
  const a = await net.createAccount('alice')
  const b = await net.createAccount('bob')
  alice = { ...a, lib: withCarrelLexicons(a.agent) }
  bob = { ...b, lib: withCarrelLexicons(b.agent) }
})

test.after(async () => {
  await net?.close()
})

const takedown = (uri: string, cid: string, applied: boolean) =>
  admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: STRONG_REF, uri, cid } as any, takedown: { applied } })

const stats = async (who: { lib: AtpAgent; did: string }) =>
  (await who.lib.call('app.carrel.library.getStats', { repo: who.did })).data as { books: number; topAuthors: { name: string }[] }

const found = async (who: { lib: AtpAgent; did: string }, q: string) => (await search(who.lib, { repo: who.did, q })).books.map((b) => b.value.title)

/** The live index's rows and the rows a rebuild from the repos makes now: they must be the same. */
function assertRebuildMatches(): void {
  const db = net.pds.ctx.db
  const live = libraryRows(db.sqlite)
  rebuildIndexes(db, derivedIndexes(db, net.pds.ctx.lexicons))
  assert.equal(libraryRows(db.sqlite), live)
}

test('a book taken down leaves search and counts at once; rewritten by its owner it stays out; lifted, it is back as it now is', async () => {
  await addBook(alice.lib, alice.did, { title: 'Quietly Shelved Atlas', authors: ['Ursula Vance'] })
  const hidden = await addBook(alice.lib, alice.did, { title: 'Zanzibar Takedown Chronicle', authors: ['Mira Okonkwo'] })
  await addBook(bob.lib, bob.did, { title: 'Zanzibar Takedown Chronicle', authors: ['Mira Okonkwo'] })
  assert.is((await stats(alice)).books, 2)
  assert.equal(await found(alice, 'zanzibar'), ['Zanzibar Takedown Chronicle'])

  await takedown(hidden.uri, hidden.cid, true)
  assert.is((await stats(alice)).books, 1)
  assert.not.ok((await stats(alice)).topAuthors.some((a) => a.name === 'Mira Okonkwo'), 'its author is no longer counted')
  assert.equal(await found(alice, 'zanzibar'), [])
  // bob's copy of the same book is his own record: untouched
  assert.equal(await found(bob, 'zanzibar'), ['Zanzibar Takedown Chronicle'])
  assertRebuildMatches()

  // the owner writes the taken-down path again: the path stays taken down, so out of the index
  await alice.lib.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey: hidden.rkey,
    record: { $type: BOOK, title: 'Zanzibar Revised Edition', authors: ['Mira Okonkwo'], createdAt: new Date().toISOString() },
  })
  assert.is((await stats(alice)).books, 1)
  assert.equal(await found(alice, 'revised'), [])
  assertRebuildMatches()

  const current = await alice.lib.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey: hidden.rkey,
    record: { $type: BOOK, title: 'Zanzibar Final Edition', authors: ['Mira Okonkwo'], createdAt: new Date().toISOString() },
  })
  await takedown(hidden.uri, current.data.cid, false)
  assert.is((await stats(alice)).books, 2)
  assert.equal(await found(alice, 'zanzibar'), ['Zanzibar Final Edition'])
  assert.equal(await found(alice, 'revised'), [])
  assertRebuildMatches()
})

test('a release taken down is no longer offered; lifted, it is offered again', async () => {
  const file = await uploadArtifact(alice.lib, new Uint8Array(randomBytes(2000)))
  const product = 'takedown-app'
  await publish(alice.lib, alice.did, { version: '1.0.0', artifacts: [artifact(file)] }, product)
  const bad = await publish(alice.lib, alice.did, { version: '1.1.0', artifacts: [artifact(file)] }, product)
  const reader = withCarrelLexicons(net.agent())
  const offer = () => checkForUpdates(reader, { publisher: alice.did, product, currentVersion: '1.0.0' })
  assert.is((await offer()).release?.version, '1.1.0')

  await takedown(bad.uri, bad.cid, true)
  const after = await offer()
  assert.is(after.status, 'upToDate', 'the taken-down release is not offered')
  assert.is(after.release, undefined)

  await takedown(bad.uri, bad.cid, false)
  assert.is((await offer()).release?.version, '1.1.0')
})

test.run()
