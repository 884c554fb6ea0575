// The library index is derived data: `npm run reindex` (server stopped) and the start-up rebuild
// (after migration 005, or with the index turned back on) make exactly the rows the commit hook
// made, compared row by row; reindex refuses to run beside a server; a repo's deletion removes
// its rows and nothing else; a rebuild that cannot read a record changes nothing.
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startPds } from '../src/pds.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { addBook, BOOK, libraryRows, search, titles, withLibraryLexicons } from './_library.ts'
import { expectXrpcError, readDbFile, runReindex } from './_util.ts'

let net: TestNetwork
let live: Record<string, unknown[]>

type Account = { agent: AtpAgent; did: string }
const accounts: Account[] = []

async function account(): Promise<Account> {
  const a = await net.createAccount()
  const out = { agent: withLibraryLexicons(a.agent), did: a.did }
  accounts.push(out)
  return out
}

const reindex = () => runReindex(net.dataDir)

/** The index's rows with the server stopped, read from its database file. */
const rowsOnDisk = (change?: (db: Database.Database) => void) => readDbFile(net.dataDir, libraryRows, change)

const wipeIndex = (db: Database.Database) =>
  db.exec(`INSERT INTO library_book_fts (library_book_fts) VALUES ('delete-all');
           DELETE FROM library_book; DELETE FROM library_stat; DELETE FROM library_owner`)

test.before(async () => {
  net = await startNetwork()
  const [a, b, c] = [await account(), await account(), await account()]
  const png = new Uint8Array(randomBytes(1024))
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0)
  const cover = (await a.agent.com.atproto.repo.uploadBlob(png, { encoding: 'image/png' })).data.blob
  const made = []
  for (let i = 0; i < 30; i++) {
    made.push(
      await addBook(a.agent, a.did, {
        title: [`Book ${i} of Dostoévskii`, `Книга ${i}`, `第${i}の猫`][i % 3]!,
        subtitle: i % 4 === 0 ? `Sub ${i}` : undefined,
        authors: i % 5 === 0 ? [] : [`Author ${i % 7}`, i % 2 ? 'Ёжик Туманов' : 'author 1'],
        tags: i % 3 === 0 ? ['Tag A', 'tag a', `t${i % 4}`] : undefined,
        shelf: i % 2 ? 'Shelf' : undefined,
        readingStatus: ['toRead', 'reading', 'finished', 'abandoned'][i % 4],
        rating: i % 6 ? (i % 5) + 1 : undefined,
        pages: 100 + i,
        progress: i % 4 === 1 ? 40 : undefined,
        finishedAt: i % 4 === 2 ? `20${20 + (i % 5)}-06-01T00:00:00Z` : undefined,
        series: i % 7 === 0 ? { name: 'The Series', number: i } : undefined,
        notes: i % 8 === 0 ? 'Notes with words' : undefined,
        cover: i === 3 ? cover : undefined,
        identifiers: { isbn13: '9780306406157' },
      }),
    )
  }
  // updates and deletions, so that the live index went through more than inserts
  for (const i of [1, 4, 9]) {
    await a.agent.com.atproto.repo.putRecord({
      repo: a.did,
      collection: BOOK,
      rkey: made[i]!.rkey,
      record: { title: `Rewritten ${i}`, tags: ['Tag A'], readingStatus: 'finished', finishedAt: '2021-01-01T00:00:00Z', pages: 50, createdAt: new Date().toISOString() },
    })
  }
  for (const i of [2, 5, 27]) await a.agent.com.atproto.repo.deleteRecord({ repo: a.did, collection: BOOK, rkey: made[i]!.rkey })
  // a record the library does not hold
  await a.agent.com.atproto.repo.createRecord({ repo: a.did, collection: BOOK, record: { title: 7, createdAt: new Date().toISOString() }, validate: false })
  await addBook(b.agent, b.did, { title: 'Another library', tags: ['Tag A'], authors: ['Author 1'] })
  // a library that was emptied: no rows at all, as a rebuild would find it
  const gone = await addBook(c.agent, c.did, { title: 'Soon gone' })
  await c.agent.com.atproto.repo.deleteRecord({ repo: c.did, collection: BOOK, rkey: gone.rkey })
  live = libraryRows(net.pds.ctx.db.sqlite)
  assert.ok((live.library_book as unknown[]).length > 25 && (live.library_book_fts as unknown[]).length > 200, 'a library worth comparing')
})

test.after(async () => {
  await net.close()
})

test('npm run reindex refuses to run beside a running server, and changes nothing', async () => {
  const res = reindex()
  assert.is(res.status, 1, res.stdout + res.stderr)
  assert.match(res.stderr, /in use: stop the server first/)
  assert.equal(libraryRows(net.pds.ctx.db.sqlite), live)
  assert.ok((await titles(accounts[0]!.agent, { repo: accounts[0]!.did, q: 'dostoevskii' })).length > 0, 'the server is unharmed')
})

test('npm run reindex rebuilds every row the commit hook wrote, from the repos alone', async () => {
  await net.pds.close()
  const same = reindex()
  assert.is(same.status, 0, same.stderr)
  // 27 books of the first library (the invalid record is not one) and 1 of the second
  assert.match(same.stdout, /library: 28 books indexed from 29 records/)
  assert.equal(rowsOnDisk(), live, 'a rebuild over the live index gives the same rows')
  rowsOnDisk(wipeIndex)
  assert.equal(rowsOnDisk().library_book, [], 'wiped')
  const again = reindex()
  assert.is(again.status, 0, again.stderr)
  assert.equal(rowsOnDisk(), live, 'a rebuild from nothing gives the same rows')
  await net.restart()
})

test('the server rebuilds the index at start-up when it is out of date (migration 005 on old data)', async () => {
  await net.pds.close()
  rowsOnDisk((db) => {
    wipeIndex(db)
    db.exec('DELETE FROM library_index_state')
  })
  await net.restart()
  assert.equal(libraryRows(net.pds.ctx.db.sqlite), live)
  const [a] = accounts
  assert.equal(await titles(a!.agent, { repo: a!.did, q: '猫', sort: 'title', limit: 3 }), ['第11の猫', '第14の猫', '第17の猫'])
})

test('PDS_LIBRARY_INDEX=false: the queries answer 501, writes go on, and turning it on again rebuilds', async () => {
  const [a] = accounts
  const port = String(net.pds.http.port)
  await net.pds.close()
  net.pds = await startPds({ ...net.env, PDS_PORT: port, PDS_LIBRARY_INDEX: 'false' })
  for (const nsid of ['app.carrel.library.searchBooks', 'app.carrel.library.getStats']) {
    const err = await expectXrpcError(() => a!.agent.call(nsid, { repo: a!.did }), 501, 'MethodNotImplemented')
    assert.match(err.message, /PDS_LIBRARY_INDEX/)
  }
  const written = await addBook(a!.agent, a!.did, { title: 'Written while the index was off' })
  await net.restart()
  assert.equal(await titles(a!.agent, { repo: a!.did, q: '"while the index was off"' }), ['Written while the index was off'])
  await a!.agent.com.atproto.repo.deleteRecord({ repo: a!.did, collection: BOOK, rkey: written.rkey })
  assert.equal(libraryRows(net.pds.ctx.db.sqlite), live)
})

test("a repo's deletion (deleteRepoInTx) removes that library's rows and nothing else", async () => {
  const [a, b] = accounts
  const db = net.pds.ctx.db.sqlite
  for (const hook of net.pds.ctx.repo.hooks) db.transaction(() => hook.deleteRepoInTx?.(a!.did))()
  const rows = libraryRows(db)
  const others = (table: string) => (live[table] as { did: string }[]).filter((r) => r.did !== a!.did)
  for (const table of ['library_owner', 'library_book', 'library_stat', 'library_book_fts']) {
    assert.equal(rows[table], others(table), table)
    assert.ok((rows[table] as unknown[]).length > 0 || table === 'library_owner', `${table} keeps the other library`)
  }
  assert.equal((await search(a!.agent, { repo: a!.did })).books, [])
  assert.equal(await titles(b!.agent, { repo: b!.did }), ['Another library'])
})

test('a rebuild that cannot read a book changes nothing: reindex fails, and the server starts with the index as it was', async () => {
  // (the first library's rows were removed by the test above; the second one's book is the one damaged)
  const [, b] = accounts
  const before = libraryRows(net.pds.ctx.db.sqlite)
  const some = (await search(b!.agent, { repo: b!.did, sort: 'title', limit: 1 })).books[0]!
  await net.pds.close()
  // a record whose block is gone (a damaged repo)
  rowsOnDisk((db) => db.prepare('DELETE FROM repo_block WHERE cid = ?').run(some.cid))
  const res = reindex()
  assert.is(res.status, 1)
  assert.match(res.stderr, new RegExp(`nothing changed: record block ${some.cid} .* is missing`))
  assert.equal(rowsOnDisk(), before, 'the tables as they were')
  rowsOnDisk((db) => db.exec('DELETE FROM library_index_state'))
  await net.restart()
  const { library_index_state: state, ...rows } = libraryRows(net.pds.ctx.db.sqlite)
  const { library_index_state: _, ...rowsBefore } = before
  assert.equal(rows, rowsBefore, 'the start-up rebuild failed and left the tables as they were')
  assert.equal(state, [], 'still out of date: the next start tries again')
  // the server answers from the index (the damaged book itself cannot be served: its record is unreadable)
  assert.is(((await b!.agent.call('app.carrel.library.getStats', { repo: b!.did })).data as { books: number }).books, 1)
  assert.equal(await titles(b!.agent, { repo: b!.did, q: 'library' }), [])
})

test.run()
