import { type Kysely, sql } from 'kysely'

// The library index (src/indexer/library): query tables for app.carrel.library.book records,
// written in each commit's transaction by a commit hook and rebuilt from the repos by reindex.
// Nothing here is primary data. library_index_state starts empty: the server then builds the
// index from the books already in the repos at its next start (and again whenever the index's
// version changes).
export async function up(db: Kysely<unknown>): Promise<void> {
  // A library's number: the other tables name a library by it rather than by its DID (a
  // quarter of the index's bytes otherwise). A book's id is owner * 2^40 + a number of its own,
  // so one library's books are one range of library_book_fts rowids.
  await sql`CREATE TABLE library_owner (
    did TEXT PRIMARY KEY,
    owner INTEGER NOT NULL UNIQUE
  )`.execute(db)

  // One row per indexed book; `id` is its row in library_book_fts. The sort keys searchBooks
  // pages through each end with the rkey, so that every key is unique; status and shelf_key ride
  // along in each sort index, so that a walk in that order checks those filters without reading
  // the table. shelf, tags and authors keep each as written beside its folded key (tags, authors:
  // JSON arrays of [key, name]): the exact check behind the tag and author filters, and what a
  // removal takes out of the counts.
  await sql`CREATE TABLE library_book (
    id INTEGER PRIMARY KEY,
    owner INTEGER NOT NULL,
    rkey TEXT NOT NULL,
    title_sort TEXT NOT NULL,
    author_sort TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    status TEXT,
    shelf_key TEXT,
    rating INTEGER NOT NULL,
    pages INTEGER,
    pages_read INTEGER NOT NULL,
    finished_year INTEGER,
    cover_cid TEXT,
    shelf TEXT,
    tags TEXT NOT NULL,
    authors TEXT NOT NULL,
    UNIQUE (owner, rkey)
  )`.execute(db)
  await sql`CREATE INDEX library_book_added_idx ON library_book (owner, added_at, rkey, status, shelf_key)`.execute(db)
  await sql`CREATE INDEX library_book_title_idx ON library_book (owner, title_sort, rkey, status, shelf_key)`.execute(db)
  await sql`CREATE INDEX library_book_author_idx ON library_book (owner, author_sort, title_sort, rkey, status, shelf_key)`.execute(db)
  await sql`CREATE INDEX library_book_rating_idx ON library_book (owner, rating, added_at, rkey, status, shelf_key)`.execute(db)

  // Counts for getStats (and for searchBooks to choose how to look), kept as books come and go:
  // kind = total, status, shelf, tag, author or year (of finishedAt); a shelf, tag or author by
  // its folded key and, within it, by each way it is written (getStats names it the most common
  // way); `pages` = pages read (total) or the books' pages (year).
  await sql`CREATE TABLE library_stat (
    owner INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    books INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    PRIMARY KEY (owner, kind, key, name)
  ) WITHOUT ROWID`.execute(db)

  // Full text of title, authors, series, subtitle, tags and notes. Contentless: the text is in
  // the repo, the table keeps only the index (contentless_delete lets a row be deleted by its
  // rowid alone). unicode61 folds case and, with remove_diacritics 2, Latin accents;
  // src/indexer/library/text.ts prepares the text it is given (and queries the same way).
  await sql`CREATE VIRTUAL TABLE library_book_fts USING fts5(
    title, authors, series, subtitle, tags, notes,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
  )`.execute(db)

  await sql`CREATE TABLE library_index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
  )`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const tables = ['library_index_state', 'library_book_fts', 'library_stat', 'library_book', 'library_owner']
  for (const t of tables) await sql`DROP TABLE ${sql.ref(t)}`.execute(db)
}
