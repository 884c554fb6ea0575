// Books as records: what the book lexicon and the book rules refuse (400 InvalidRecord naming the
// field, nothing written), covers as blobs served by getBlob and named by searchBooks, records
// the index does not hold, and a failing index update failing the whole commit.
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { addBook, BOOK, search, titles, withLibraryLexicons } from './_library.ts'
import { expectXrpcError, getRepoCar, rawXrpc } from './_util.ts'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string }

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('alice')
  alice = { agent: withLibraryLexicons(a.agent), did: a.did }
})

test.after(async () => {
  await net.close()
})

async function repoState(did: string) {
  const head = await alice.agent.com.atproto.sync.getLatestCommit({ did })
  const books = await alice.agent.com.atproto.repo.listRecords({ repo: did, collection: BOOK, limit: 100 })
  return { rev: head.data.rev, books: books.data.records.map((r) => r.uri).sort() }
}

/** A create that must fail with 400 InvalidRecord naming `field`, leaving the repo and index as they were. */
async function refused(record: Record<string, unknown>, field: string, opts: { validate?: boolean } = {}) {
  const before = await repoState(alice.did)
  const statsBefore = (await alice.agent.call('app.carrel.library.getStats', { repo: alice.did })).data
  const err = await expectXrpcError(
    () =>
      alice.agent.com.atproto.repo.createRecord({
        repo: alice.did,
        collection: BOOK,
        record: { title: 'Refused', createdAt: new Date().toISOString(), ...record },
        ...opts,
      }),
    400,
    'InvalidRecord',
  )
  assert.ok(err.message.includes(field), `the message names ${field}: ${err.message}`)
  assert.equal(await repoState(alice.did), before, 'nothing was written')
  assert.equal((await alice.agent.call('app.carrel.library.getStats', { repo: alice.did })).data, statsBefore, 'the index did not change')
  return err
}

test('ISBN-10 and ISBN-13 check digits are checked on write, the field named', async () => {
  // valid ones are accepted (X as a check digit too)
  await addBook(alice.agent, alice.did, { title: 'Valid ISBNs', identifiers: { isbn10: '0306406152', isbn13: '9780306406157' } })
  await addBook(alice.agent, alice.did, { title: 'X check digit', identifiers: { isbn10: '080442957X' } })
  await refused({ identifiers: { isbn10: '0306406153' } }, 'identifiers/isbn10')
  await refused({ identifiers: { isbn13: '9780306406158' } }, 'identifiers/isbn13')
  await refused({ identifiers: { isbn13: '9990306406157' } }, 'identifiers/isbn13') // not a 978/979 prefix
  await refused({ identifiers: { isbn10: '0-306-4061' } }, 'identifiers/isbn10') // hyphens
  await refused({ identifiers: { isbn10: '030640615x' } }, 'identifiers/isbn10') // lower-case x
  await refused({ identifiers: { isbn13: '978030640615' } }, 'identifiers/isbn13') // too short: the lexicon says so
  // validate: false skips the lexicon, not the check digits
  await refused({ identifiers: { isbn10: '0306406153' } }, 'identifiers/isbn10', { validate: false })
})

test('other invalid books are refused with the field named', async () => {
  await refused({ title: '' }, 'title')
  await refused({ title: 'x'.repeat(301) }, 'title')
  await refused({ title: undefined }, 'title')
  await refused({ authors: ['ok', 42] }, 'authors')
  await refused({ publishedDate: '1951-02-30' }, 'publishedDate')
  await refused({ publishedDate: '51' }, 'publishedDate')
  await refused({ rating: 6 }, 'rating')
  await refused({ rating: 0 }, 'rating')
  await refused({ progress: 101 }, 'progress')
  await refused({ pages: 0 }, 'pages')
  await refused({ language: 'jaja' }, 'language')
  await refused({ finishedAt: '2024-05-01T10:00:00' }, 'finishedAt') // no time zone
  await refused({ series: { number: 2 } }, 'series')
  await refused({ tags: ['x'.repeat(65)] }, 'tags')
  await refused({ identifiers: { other: [{ scheme: 'asin' }] } }, 'other')
})

test('a cover is a blob: served by getBlob, and searchBooks gives its URL', async () => {
  const png = new Uint8Array(randomBytes(2048))
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0)
  const uploaded = await alice.agent.com.atproto.repo.uploadBlob(png, { encoding: 'image/png' })
  const cover = uploaded.data.blob
  await addBook(alice.agent, alice.did, { title: 'Covered Wagon', cover })
  const [book] = (await search(alice.agent, { repo: alice.did, q: 'wagon' })).books
  assert.ok(book, 'found')
  const cid = cover.ref.toString()
  assert.is(book!.coverUrl, `${net.url}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(alice.did)}&cid=${cid}`)
  const res = await fetch(book!.coverUrl!)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'image/png')
  assert.equal(new Uint8Array(await res.arrayBuffer()), png)
  // a book without a cover has no URL
  const [plain] = (await search(alice.agent, { repo: alice.did, q: '"x check digit"' })).books
  assert.is(plain!.coverUrl, undefined)
  // a cover that is not an image is refused by the lexicon's accept list
  const text = await alice.agent.com.atproto.repo.uploadBlob(new TextEncoder().encode('not an image'), { encoding: 'text/plain' })
  await expectXrpcError(() => addBook(alice.agent, alice.did, { title: 'Text cover', cover: text.data.blob }), 400, 'InvalidMimeType')
})

test('a record that is not a valid book (validate: false) is stored but not in the library', async () => {
  const res = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: BOOK,
    record: { title: 12345, subtitle: 'Unindexable Oddity', createdAt: new Date().toISOString() },
    validate: false,
  })
  const stored = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: BOOK, rkey: res.data.uri.split('/').pop()! })
  assert.is((stored.data.value as { subtitle: string }).subtitle, 'Unindexable Oddity')
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'unindexable' }), [])
  // made valid, it is indexed; made invalid again, it leaves
  const rkey = res.data.uri.split('/').pop()!
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey,
    record: { title: 'Now a Book', subtitle: 'Unindexable Oddity', createdAt: new Date().toISOString() },
  })
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'unindexable' }), ['Now a Book'])
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey,
    record: { title: ['not', 'a', 'string'], subtitle: 'Unindexable Oddity', createdAt: new Date().toISOString() },
    validate: false,
  })
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'unindexable' }), [])
})

test('books that reach the index without the write path validating them are validated by it: an imported repo', async () => {
  // a write validates the book (the index trusts that); an import does not validate records, so
  // the index does: a book the lexicon refuses (rating above 5, stored with validate: false) stays out
  const kept = await addBook(alice.agent, alice.did, { title: 'Imported And Valid', subtitle: 'Reimport Marker' })
  const odd = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: BOOK,
    record: { title: 'Imported Out Of Range', subtitle: 'Reimport Marker', rating: 9, createdAt: new Date().toISOString() },
    validate: false,
  })
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'reimport' }), ['Imported And Valid'])
  const car = await getRepoCar(net.url, alice.did)
  await alice.agent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' })
  const stored = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: BOOK, rkey: odd.data.uri.split('/').pop()! })
  assert.is((stored.data.value as { rating: number }).rating, 9, 'the import kept the record')
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'reimport' }), ['Imported And Valid'])
  const view = (await search(alice.agent, { repo: alice.did, q: 'reimport' })).books[0]!
  assert.is(view.uri, kept.uri)
})

test('a failing index update fails the commit: 500, nothing written, the repo and the index still agree', async () => {
  const { rkey } = await addBook(alice.agent, alice.did, { title: 'Steady State', tags: ['calm'] })
  const db = net.pds.ctx.db.sqlite
  const before = await repoState(alice.did)
  // the index's own table refuses any new book (a full disk, a corrupt page...)
  db.exec(`CREATE TRIGGER fail_library_insert BEFORE INSERT ON library_book BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`)
  try {
    const created = await rawXrpc(net.url, 'com.atproto.repo.createRecord', {
      token: alice.agent.session!.accessJwt,
      body: { repo: alice.did, collection: BOOK, record: { title: 'Never Stored', createdAt: new Date().toISOString() } },
    })
    assert.is(created.status, 500)
    // what went wrong is logged (with the record's URI); the answer says nothing of the inside
    assert.equal(created.body, { error: 'InternalServerError', message: 'Internal Server Error' })
    // an update removes the old rows first, then fails to add the new ones: all of it undone
    const updated = await rawXrpc(net.url, 'com.atproto.repo.putRecord', {
      token: alice.agent.session!.accessJwt,
      body: { repo: alice.did, collection: BOOK, rkey, record: { title: 'Steady Change', createdAt: new Date().toISOString() } },
    })
    assert.is(updated.status, 500)
    assert.equal(await repoState(alice.did), before, 'no commit')
    const record = await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: BOOK, rkey })
    assert.is((record.data.value as { title: string }).title, 'Steady State')
    assert.equal(await titles(alice.agent, { repo: alice.did, q: 'steady' }), ['Steady State'])
    assert.equal(await titles(alice.agent, { repo: alice.did, tag: 'calm' }), ['Steady State'])
    // other collections are not the library's business
    await alice.agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      record: { text: 'unaffected', createdAt: new Date().toISOString() },
    })
  } finally {
    db.exec('DROP TRIGGER fail_library_insert')
  }
  await addBook(alice.agent, alice.did, { title: 'Steady Again' })
  assert.equal(await titles(alice.agent, { repo: alice.did, q: 'steady', sort: 'title' }), ['Steady Again', 'Steady State'])
})

test.run()
