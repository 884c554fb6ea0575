// getStats: counts by status and shelf, top tags and authors, books finished per year and pages
// read, kept by the commit hook as books are created, changed and deleted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { addBook, BOOK, withLibraryLexicons } from './_library.ts'

let net: TestNetwork
let dana: { agent: AtpAgent; did: string }
let erin: { agent: AtpAgent; did: string }

test.before(async () => {
  net = await startNetwork()
  const d = await net.createAccount('dana')
  dana = { agent: withLibraryLexicons(d.agent), did: d.did }
  const e = await net.createAccount('erin')
  erin = { agent: withLibraryLexicons(e.agent), did: e.did }
})

test.after(async () => {
  await net.close()
})

const stats = async (agent: AtpAgent, did: string, top?: number) =>
  (await agent.call('app.carrel.library.getStats', { repo: did, ...(top ? { top } : {}) })).data as Record<string, any>

test('an empty library', async () => {
  assert.equal(await stats(dana.agent, dana.did), {
    books: 0,
    pagesRead: 0,
    byStatus: [],
    byShelf: [],
    topTags: [],
    topAuthors: [],
    finishedByYear: [],
  })
})

test('counts, top lists, years and pages read follow every create, update and delete', async () => {
  const a = await addBook(dana.agent, dana.did, {
    title: 'A',
    authors: ['Ursula K. Le Guin'],
    tags: ['Sci-Fi', 'classic'],
    shelf: 'Study',
    readingStatus: 'finished',
    finishedAt: '2023-03-01T10:00:00Z',
    pages: 300,
  })
  const b = await addBook(dana.agent, dana.did, {
    title: 'B',
    authors: ['Ursula K. Le Guin', 'Ted Chiang'],
    tags: ['sci-fi'],
    shelf: 'study',
    readingStatus: 'reading',
    pages: 200,
    progress: 25,
  })
  await addBook(dana.agent, dana.did, { title: 'C', authors: ['Ted Chiang'], tags: ['short stories'], readingStatus: 'toRead', pages: 150 })
  await addBook(dana.agent, dana.did, { title: 'D', readingStatus: 'finished', finishedAt: '2024-12-31T23:30:00-02:00', pages: 100 })
  await addBook(dana.agent, dana.did, { title: 'E' })
  // somebody else's books never count
  await addBook(erin.agent, erin.did, { title: 'Elsewhere', tags: ['sci-fi'], readingStatus: 'finished', pages: 999 })

  assert.equal(await stats(dana.agent, dana.did), {
    books: 5,
    // A and D whole, a quarter of B
    pagesRead: 300 + 100 + 50,
    byStatus: [
      { status: 'finished', books: 2 },
      { status: 'reading', books: 1 },
      { status: 'toRead', books: 1 },
    ],
    // one shelf whatever the case, named as on its oldest book
    byShelf: [{ shelf: 'Study', books: 2 }],
    topTags: [
      { tag: 'Sci-Fi', books: 2 },
      { tag: 'classic', books: 1 },
      { tag: 'short stories', books: 1 },
    ],
    topAuthors: [
      { author: 'Ted Chiang', books: 2 },
      { author: 'Ursula K. Le Guin', books: 2 },
    ],
    // D finished on 2025-01-01 UTC
    finishedByYear: [
      { year: 2023, books: 1, pages: 300 },
      { year: 2025, books: 1, pages: 100 },
    ],
  })
  assert.equal((await stats(dana.agent, dana.did, 1)).topTags, [{ tag: 'Sci-Fi', books: 2 }], 'top limits the lists')

  // B finished, re-tagged, moved off the shelf
  await dana.agent.com.atproto.repo.putRecord({
    repo: dana.did,
    collection: BOOK,
    rkey: b.rkey,
    record: {
      title: 'B',
      authors: ['Ted Chiang'],
      tags: ['novella'],
      readingStatus: 'finished',
      finishedAt: '2023-07-01T00:00:00Z',
      pages: 200,
      createdAt: new Date().toISOString(),
    },
  })
  // A goes: the tag "sci-fi" is now named as on B... which no longer has it: gone
  await dana.agent.com.atproto.repo.deleteRecord({ repo: dana.did, collection: BOOK, rkey: a.rkey })
  assert.equal(await stats(dana.agent, dana.did), {
    books: 4,
    pagesRead: 200 + 100,
    byStatus: [
      { status: 'finished', books: 2 },
      { status: 'toRead', books: 1 },
    ],
    byShelf: [],
    topTags: [
      { tag: 'novella', books: 1 },
      { tag: 'short stories', books: 1 },
    ],
    topAuthors: [{ author: 'Ted Chiang', books: 2 }],
    finishedByYear: [
      { year: 2023, books: 1, pages: 200 },
      { year: 2025, books: 1, pages: 100 },
    ],
  })
  assert.equal((await stats(erin.agent, erin.did)).books, 1)
})

test('a shelf, tag or author is counted whatever its case and accents, and named as most of its books write it', async () => {
  const first = await addBook(dana.agent, dana.did, { title: 'F', tags: ['Café Noir'], shelf: 'NIGHT STAND', authors: ['Émile Zola'] })
  await addBook(dana.agent, dana.did, { title: 'G', tags: ['cafe noir'], shelf: 'Night Stand', authors: ['emile zola'] })
  await addBook(dana.agent, dana.did, { title: 'H', tags: ['cafe noir'], shelf: 'Night Stand', authors: ['Émile Zola'] })
  const s = await stats(dana.agent, dana.did)
  assert.equal(s.topTags[0], { tag: 'cafe noir', books: 3 })
  assert.equal(s.byShelf, [{ shelf: 'Night Stand', books: 3 }])
  assert.ok(s.topAuthors.some((a: { author: string; books: number }) => a.author === 'Émile Zola' && a.books === 3))
  await dana.agent.com.atproto.repo.deleteRecord({ repo: dana.did, collection: BOOK, rkey: first.rkey })
  const after = await stats(dana.agent, dana.did)
  assert.equal(after.topTags[0], { tag: 'cafe noir', books: 2 })
  // one book each way: the first in code point order
  assert.ok(after.topAuthors.some((a: { author: string; books: number }) => a.author === 'emile zola' && a.books === 2))
})

test.run()
