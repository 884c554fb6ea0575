// searchBooks cursors while the library is being written to: for every sort order (with and
// without a query and a filter), a reader pages through the library while a writer adds books
// whose sort keys fall before, inside and after every page. No book is returned twice, every
// book that was there from the start is returned, and the pages follow the order of the final
// library.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { TID } from '@atproto/common'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { allPages, BOOK, search, withLibraryLexicons, type Book, type BookView } from './_library.ts'

let net: TestNetwork
/** each case has a library of its own */
let carol: { agent: AtpAgent; did: string }

/** A small seeded generator, so that a failure can be replayed. */
function rng(seed: number) {
  let a = seed
  return () => {
    a = (a * 1103515245 + 12345) % 2147483648
    return a / 2147483648
  }
}

const WORDS = ['amber', 'birch', 'cedar', 'delta', 'ember', 'fjord', 'grove', 'heath', 'inlet', 'juniper', 'kestrel', 'linden']
const AUTHORS = ['Ann Smith', 'Émile Zola', 'Boris Akunin', 'Борис Акунин', '村上春樹', 'Saga Norén']
let made = 0

function randomBook(r: () => number): Book {
  made++
  const book: Book = {
    // "saga" in most titles: with q=saga every relevance level has books
    title: `${r() < 0.7 ? 'Saga ' : ''}${WORDS[Math.floor(r() * WORDS.length)]} ${made}`,
    createdAt: new Date(Date.UTC(2020, 0, 1) + Math.floor(r() * 4 * 365) * 86_400_000).toISOString(),
  }
  if (r() < 0.85) book.authors = [AUTHORS[Math.floor(r() * AUTHORS.length)]!]
  if (r() < 0.6) book.rating = 1 + Math.floor(r() * 5)
  if (r() < 0.5) book.tags = ['shared']
  if (r() < 0.2) book.notes = 'a saga in the notes'
  return book
}

async function write(books: Book[]) {
  await carol.agent.com.atproto.repo.applyWrites({
    repo: carol.did,
    writes: books.map((value) => ({ $type: 'com.atproto.repo.applyWrites#create' as const, collection: BOOK, rkey: TID.nextStr(), value })),
  })
}

test.before(async () => {
  net = await startNetwork()
})

test.before.each(async () => {
  const c = await net.createAccount()
  carol = { agent: withLibraryLexicons(c.agent), did: c.did }
})

test.after(async () => {
  await net.close()
})

const CASES: Record<string, unknown>[] = [
  { sort: 'added' },
  { sort: 'title' },
  { sort: 'author' },
  { sort: 'rating' },
  { q: 'saga' }, // relevance: title, then author, then notes matches
  { q: 'saga', sort: 'title' },
  { tag: 'shared', sort: 'rating' },
  { q: 'saga', tag: 'shared' },
]

for (const [i, params] of CASES.entries()) {
  test(`pages stay exact while books are added: ${JSON.stringify(params)}`, async () => {
    const r = rng(1000 + i)
    await write(Array.from({ length: 40 }, () => randomBook(r)))
    const query = { repo: carol.did, ...params }
    const initial = new Set((await allPages(carol.agent, query)).map((b) => b.uri))
    assert.ok(initial.size >= 10, `${initial.size} books to page through`)

    const seen: BookView[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      // the next page and a writer's commit race each other
      const [page] = await Promise.all([
        search(carol.agent, { ...query, limit: 5, cursor }),
        write(Array.from({ length: 3 }, () => randomBook(r))),
      ])
      seen.push(...page.books)
      cursor = page.cursor
      assert.ok(++pages < 200, 'the paging ends')
    } while (cursor)

    const uris = seen.map((b) => b.uri)
    assert.is(new Set(uris).size, uris.length, 'no book twice')
    for (const uri of initial) assert.ok(uris.includes(uri), `${uri}, there from the start, was returned`)
    // in the order of the final library (the books added meanwhile fall in their places)
    const final = (await allPages(carol.agent, query)).map((b) => b.uri)
    const positions = uris.map((u) => final.indexOf(u))
    assert.ok(!positions.includes(-1), 'every returned book is still in the library')
    assert.equal(positions, [...positions].sort((a, b) => a - b), 'pages follow the sort order')
  })
}

test.run()
