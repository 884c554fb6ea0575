// npm run bench -- library-index: what the library index costs per book, in-process, without the
// HTTP server and the repo around it. A database with the library index of BENCH_BOOKS (30,000)
// generated books, then BENCH_WRITES books added one transaction each, as the commit hook adds
// them: the CPU time of working out a book's entry (with and without the lexicon validation the
// write path makes unnecessary), of its transaction, and the WAL frames (pages) the transaction
// writes, by table or index (each frame is a 4 kB write, its checksum, and later a checkpoint's
// copy). Pages are named by dbstat after the run, so a page freed and reused meanwhile may be
// counted under its new owner.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TID } from '@atproto/common'
import { migrateToLatest, openDatabase } from '../src/db/index.ts'
import { bookEntry, type BookEntry } from '../src/indexer/library/book-entry.ts'
import { LibraryTables } from '../src/indexer/library/library-tables.ts'
import { loadLexicons } from '../src/lexicons.ts'
import type { RecordValue } from '../src/repo/types.ts'
import { generateBooks } from './_library-data.ts'

const BOOKS = Number(process.env.BENCH_BOOKS ?? 30_000)
const WRITES = Number(process.env.BENCH_WRITES ?? 2000)
const DID = 'did:plc:libraryindexbenchmark00'

const cpuUs = () => {
  const c = process.cpuUsage()
  return c.user + c.system
}

export default async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-library-index-'))
  const path = join(dir, 'carrel.sqlite')
  const db = openDatabase(path)
  try {
    await migrateToLatest(db)
    const { lexicons } = await loadLexicons()
    const tables = new LibraryTables(db)
    const record = (b: Record<string, unknown>) => ({ ...b, $type: 'app.carrel.library.book' }) as RecordValue
    db.sqlite.transaction(() => {
      for (const b of generateBooks(BOOKS)) tables.add(bookEntry(lexicons, DID, TID.nextStr(), record(b))!)
    })()
    const books = [...generateBooks(2 * WRITES, 7)].map((b) => ({ rkey: TID.nextStr(), record: record(b) }))

    // working out the entries: as reindex and imports do (validating), and as a write does
    const entryUs = (validated: boolean) => {
      const start = cpuUs()
      for (const b of books) bookEntry(lexicons, DID, b.rkey, b.record, { validated })
      return (cpuUs() - start) / books.length
    }
    const entryValidating = entryUs(false)
    const entryValidated = entryUs(true)

    const walFrames = () => Math.max(0, (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 32) - 32) / (4096 + 24)
    const add = (entries: BookEntry[]) => {
      db.sqlite.pragma('wal_checkpoint(TRUNCATE)')
      const start = cpuUs()
      for (const e of entries) db.sqlite.transaction(() => tables.add(e)).immediate()
      return { cpuUs: (cpuUs() - start) / entries.length, frames: walFrames() / entries.length }
    }
    const entries = books.map((b) => bookEntry(lexicons, DID, b.rkey, b.record, { validated: true })!)
    add(entries.slice(0, WRITES)) // warm-up
    const tx = add(entries.slice(WRITES))

    // the frames of the measured transactions, by what their page belongs to
    const owner = new Map<number, string>()
    for (const r of db.sqlite.prepare<[], { name: string; pageno: number }>('SELECT name, pageno FROM dbstat').all()) owner.set(r.pageno, r.name)
    const wal = readFileSync(`${path}-wal`)
    const byName: Record<string, number> = {}
    for (let at = 32; at + 4120 <= wal.length; at += 4120) {
      const name = owner.get(wal.readUInt32BE(at)) ?? '(free list, file header)'
      byName[name] = (byName[name] ?? 0) + 1 / WRITES
    }

    console.log(`\nlibrary index, in-process: ${BOOKS} books, then ${WRITES} added one transaction each`)
    console.log(`  a book's entry                  ${entryValidating.toFixed(1)} µs CPU validating it, ${entryValidated.toFixed(1)} µs when the write path did`)
    console.log(`  a book's transaction            ${tx.cpuUs.toFixed(1)} µs CPU, ${tx.frames.toFixed(2)} WAL frames`)
    for (const [name, frames] of Object.entries(byName).sort((a, b) => b[1] - a[1])) {
      if (frames >= 0.05) console.log(`    ${name.padEnd(34)} ${frames.toFixed(2)}`)
    }
    console.log(JSON.stringify({ bench: 'library-index', books: BOOKS, entryValidating, entryValidated, txCpuUs: tx.cpuUs, frames: tx.frames, byName }))
  } finally {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
