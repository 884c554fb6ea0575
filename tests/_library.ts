// Helpers for the library tests: the app.carrel.library lexicons for @atproto/api's client
// (agent.call needs them), book writes through the generic com.atproto.repo methods, and a
// snapshot of every row of the library index for exact comparisons.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AtpAgent } from '@atproto/api'
import type { LexiconDoc } from '@atproto/lexicon'
import type { SqliteDb } from '../src/db/index.ts'

export const BOOK = 'app.carrel.library.book'
const lexiconDir = join(import.meta.dirname, '..', 'lexicons', 'app', 'carrel', 'library')

/** Teaches the client the library's query lexicons (it knows only com.atproto.* and app.bsky.*). */
export function withLibraryLexicons(agent: AtpAgent): AtpAgent {
  for (const name of readdirSync(lexiconDir)) {
    const doc = JSON.parse(readFileSync(join(lexiconDir, name), 'utf8')) as LexiconDoc
    if (!agent.lex.getDef(doc.id)) agent.lex.add(doc)
  }
  return agent
}

export type Book = Record<string, unknown> & { title: string }
export type BookView = { uri: string; cid: string; value: Record<string, any>; coverUrl?: string }

export async function addBook(agent: AtpAgent, did: string, book: Book, rkey?: string): Promise<{ uri: string; cid: string; rkey: string }> {
  const res = await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: BOOK,
    ...(rkey ? { rkey } : {}),
    record: { createdAt: new Date().toISOString(), ...book },
  })
  return { uri: res.data.uri, cid: res.data.cid, rkey: res.data.uri.split('/').pop()! }
}

export async function search(agent: AtpAgent, params: Record<string, unknown>): Promise<{ books: BookView[]; cursor?: string }> {
  const res = await agent.call('app.carrel.library.searchBooks', params)
  return res.data as { books: BookView[]; cursor?: string }
}

export async function titles(agent: AtpAgent, params: Record<string, unknown>): Promise<string[]> {
  return (await search(agent, params)).books.map((b) => b.value.title as string)
}

/** Every page of a search, following the cursor. */
export async function allPages(agent: AtpAgent, params: Record<string, unknown>): Promise<BookView[]> {
  const out: BookView[] = []
  let cursor: string | undefined
  do {
    const page = await search(agent, { ...params, cursor })
    out.push(...page.books)
    cursor = page.cursor
  } while (cursor)
  return out
}

/**
 * Every row of the library index, in a form that does not depend on the order books were
 * indexed in: a library's number and a book's id (internal numbers that link the tables) are
 * replaced by the DID and the DID/rkey they stand for. The full-text index is read term by term
 * (fts5vocab 'instance': every token of every column of every book, with its position), which is
 * its whole content: a contentless table keeps nothing else.
 */
export function libraryRows(db: SqliteDb): Record<string, unknown[]> {
  db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.library_fts_terms USING fts5vocab(main, 'library_book_fts', 'instance')`)
  const all = (sql: string) => db.prepare(sql).all()
  return {
    library_owner: all('SELECT did FROM library_owner ORDER BY did'),
    library_book: all(
      `SELECT o.did, b.rkey, b.title_sort, b.author_sort, b.added_at, b.status, b.shelf_key, b.rating, b.pages,
              b.pages_read, b.finished_year, b.cover_cid, b.shelf, b.tags, b.authors
       FROM library_book b JOIN library_owner o ON o.owner = b.owner ORDER BY o.did, b.rkey`,
    ),
    library_stat: all(
      `SELECT o.did, s.kind, s.key, s.name, s.books, s.pages FROM library_stat s JOIN library_owner o ON o.owner = s.owner
       ORDER BY o.did, s.kind, s.key, s.name`,
    ),
    library_book_fts: all(
      `SELECT o.did, b.rkey, v.col, v.offset, v.term FROM temp.library_fts_terms v
       JOIN library_book b ON b.id = v.doc JOIN library_owner o ON o.owner = b.owner ORDER BY o.did, b.rkey, v.col, v.offset`,
    ),
    // rows that belong to nothing: full-text rows without a book, books or counts without a library
    orphans: all(
      `SELECT 'fts' AS t, doc FROM (SELECT DISTINCT doc FROM temp.library_fts_terms) WHERE doc NOT IN (SELECT id FROM library_book)
       UNION ALL SELECT 'book', id FROM library_book WHERE owner NOT IN (SELECT owner FROM library_owner)
       UNION ALL SELECT 'stat', owner FROM library_stat WHERE owner NOT IN (SELECT owner FROM library_owner)`,
    ),
    library_index_state: all('SELECT * FROM library_index_state'),
  }
}
