// npm run bench -- library: a library of BENCH_BOOKS (100,000) generated books (bench/_library-data.ts,
// seven languages) written with applyWrites batches of 200; then searchBooks latency (p50/p99
// over BENCH_QUERIES requests per query shape, one at a time, measured by the client), getStats
// latency, the index's bytes on disk per book, and createRecord throughput and server CPU per call
// with the library index on and off (PDS_LIBRARY_INDEX).
//
// The write comparison is paired: each run starts two servers, one with the index and one
// without, fills both, warms both up (BENCH_WARMUP_WRITES books each), then writes BENCH_WRITES
// more books to each in blocks of BENCH_BLOCK sequential createRecord calls, alternating between
// the two servers (and which goes first) block by block. A slow spell of the machine then lands
// on both sides rather than on one run. Figures are medians over every block of BENCH_RUNS runs,
// and the on/off difference is the median of the block pairs' differences.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { TID } from '@atproto/common'
import { request, xrpcPost } from './_client.ts'
import { generateBooks, seededRng, type GeneratedBook, type Rng } from './_library-data.ts'
import { createAccount, median, percentile, startBenchServer, type BenchServer, type Session } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const BOOKS = Number(process.env.BENCH_BOOKS ?? 100_000)
const QUERIES = Number(process.env.BENCH_QUERIES ?? 300)
const WRITES = Number(process.env.BENCH_WRITES ?? 3000)
// V8 goes on compiling the write path for a few thousand calls (see `writes`)
const WARMUP_WRITES = Number(process.env.BENCH_WARMUP_WRITES ?? 3000)
const BLOCK = Number(process.env.BENCH_BLOCK ?? 500)
const BOOK = 'app.carrel.library.book'

async function fill(server: BenchServer, s: Session, books: GeneratedBook[]): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < books.length; i += 200) {
    const writes = books.slice(i, i + 200).map((value) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: BOOK,
      rkey: TID.nextStr(),
      value,
    }))
    await xrpcPost(server.url, 'com.atproto.repo.applyWrites', s.accessJwt, { repo: s.did, writes })
  }
  return books.length / ((performance.now() - start) / 1000)
}

/** Sequential createRecord calls: books per second, and the server's CPU time per call in µs. */
async function createBooks(server: BenchServer, s: Session, books: Iterable<GeneratedBook>): Promise<{ perSec: number; cpuUs: number }> {
  let n = 0
  const start = performance.now()
  const cpu = server.cpuNs()
  for (const record of books) {
    await xrpcPost(server.url, 'com.atproto.repo.createRecord', s.accessJwt, { repo: s.did, collection: BOOK, record })
    n++
  }
  return { perSec: n / ((performance.now() - start) / 1000), cpuUs: (server.cpuNs() - cpu) / 1000 / n }
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u

/**
 * Words in a large share of titles (articles, prepositions, particles). Nobody looks for a book by
 * "the"; they are left out of the word shapes and measured on their own ("common word").
 */
const COMMON = new Set(['the', 'of', 'and', 'a', 'in', 'for', 'from', 'la', 'le', 'les', 'de', 'des', 'du', 'un', 'une', 'et', 'à', 'die', 'der', 'das', 'von', 'und', 'ein', 'el', 'los', 'las', 'y', 'del', 'una', 'и', 'в', 'из', 'の', 'と'])

/** A word someone would type to find this book: a title word, or one or two characters of a CJK title. */
function wordOf(rng: Rng, book: GeneratedBook): string {
  const text = rng() < 0.7 ? book.title : ((book.authors as string[])[0] ?? book.title)
  if (CJK.test(text)) {
    const chars = [...text]
    const at = Math.floor(rng() * chars.length)
    return chars.slice(at, at + 1 + Math.floor(rng() * 2)).join('')
  }
  const words = text.split(/[\s,.;:!?'’"]+/u).filter((w) => w.length >= 3 && !COMMON.has(w.toLowerCase()))
  return words.length > 0 ? words[Math.floor(rng() * words.length)]! : text
}

type Shape = { name: string; params: (rng: Rng) => Record<string, string> }

const CYRILLIC = /\p{Script=Cyrillic}/u

function shapes(books: GeneratedBook[]): Shape[] {
  const some = (rng: Rng) => books[Math.floor(rng() * books.length)]!
  const cjkBooks = books.filter((b) => CJK.test(b.title))
  const cyrillicBooks = books.filter((b) => CYRILLIC.test(b.title))
  const prefixOf = (w: string) => {
    const chars = [...w]
    return chars.length <= 2 ? w : chars.slice(0, Math.max(2, Math.min(4, chars.length - 1))).join('') + '*'
  }
  return [
    { name: 'single word', params: (rng) => ({ q: wordOf(rng, some(rng)) }) },
    { name: 'common word', params: (rng) => ({ q: ['the', 'of', 'la', 'de', 'die', 'der', 'el', 'и'][Math.floor(rng() * 8)]! }) },
    { name: 'CJK, 1-2 characters', params: (rng) => ({ q: wordOf(rng, cjkBooks[Math.floor(rng() * cjkBooks.length)]!) }) },
    { name: 'Cyrillic word', params: (rng) => ({ q: wordOf(rng, cyrillicBooks[Math.floor(rng() * cyrillicBooks.length)]!) }) },
    { name: 'prefix', params: (rng) => ({ q: prefixOf(wordOf(rng, some(rng))) }) },
    {
      name: 'two words',
      params: (rng) => {
        const b = some(rng)
        return { q: `${wordOf(rng, b)} ${wordOf(rng, b)}` }
      },
    },
    {
      name: 'word + filters',
      params: (rng) => {
        const b = some(rng)
        const p: Record<string, string> = { q: wordOf(rng, b), status: String(b.readingStatus) }
        if (b.shelf && rng() < 0.5) p.shelf = String(b.shelf)
        else if (Array.isArray(b.tags) && b.tags.length > 0) p.tag = String(b.tags[0])
        return p
      },
    },
    { name: 'word, sort=title', params: (rng) => ({ q: wordOf(rng, some(rng)), sort: 'title' }) },
    {
      name: 'filters only',
      params: (rng) => {
        const b = some(rng)
        const by = Math.floor(rng() * 3)
        const p: Record<string, string> = { sort: ['added', 'title', 'rating'][Math.floor(rng() * 3)]! }
        if (by === 0) p.status = String(b.readingStatus)
        else if (by === 1 && b.shelf) p.shelf = String(b.shelf)
        else p.author = String((b.authors as string[])[0])
        return p
      },
    },
  ]
}

async function latencies(url: string, queries: Record<string, string>[], nsid: string): Promise<{ p50: number; p99: number; hits: number }> {
  const lat: number[] = []
  let hits = 0
  for (const params of queries) {
    const t = performance.now()
    const res = await request(`${url}/xrpc/${nsid}?${new URLSearchParams(params)}`)
    lat.push(performance.now() - t)
    if (res.status !== 200) throw new Error(`${nsid} ${JSON.stringify(params)}: ${res.status} ${res.body.toString()}`)
    if (nsid.endsWith('searchBooks')) hits += (JSON.parse(res.body.toString()) as { books: unknown[] }).books.length
  }
  lat.sort((a, b) => a - b)
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), hits: hits / queries.length }
}

/** Bytes of the library index's tables and indexes (FTS shadow tables included), from dbstat. */
function indexBytes(dataDir: string): { total: number; byName: Record<string, number> } {
  const db = new Database(join(dataDir, 'carrel.sqlite'), { readonly: true })
  try {
    const rows = db
      .prepare<[], { name: string; bytes: number }>(
        `SELECT name, SUM(pgsize) AS bytes FROM dbstat
         WHERE name LIKE 'library%' OR name LIKE 'sqlite_autoindex_library%' GROUP BY name ORDER BY bytes DESC`,
      )
      .all()
    return { total: rows.reduce((a, r) => a + r.bytes, 0), byName: Object.fromEntries(rows.map((r) => [r.name, r.bytes])) }
  } finally {
    db.close()
  }
}

export default async function run(): Promise<void> {
  const books = [...generateBooks(BOOKS)]
  const extra = [...generateBooks(WARMUP_WRITES + WRITES, 7)]
  const figures: Record<string, number[]> = {}
  const add = (name: string, value: number) => (figures[name] ??= []).push(value)
  let bytesByName: Record<string, number> = {}
  for (let run = 0; run < RUNS; run++) {
    const sides = run % 2 === 0 ? [true, false] : [false, true]
    const servers = new Map<boolean, { server: BenchServer; session: Session }>()
    try {
      for (const indexed of sides) {
        const server = await startBenchServer(indexed ? {} : { PDS_LIBRARY_INDEX: 'false' })
        servers.set(indexed, { server, session: await createAccount(server.url, `lib${run}${indexed ? 'on' : 'off'}`) })
      }
      for (const indexed of sides) {
        const { server, session } = servers.get(indexed)!
        add(`fill ${indexed ? 'on' : 'off'}`, await fill(server, session, books))
        await createBooks(server, session, extra.slice(0, WARMUP_WRITES))
      }
      for (let from = WARMUP_WRITES, block = 0; from < WARMUP_WRITES + WRITES; from += BLOCK, block++) {
        const pair = new Map<boolean, { perSec: number; cpuUs: number }>()
        for (const indexed of block % 2 === 0 ? sides : [...sides].reverse()) {
          const { server, session } = servers.get(indexed)!
          const w = await createBooks(server, session, extra.slice(from, Math.min(from + BLOCK, WARMUP_WRITES + WRITES)))
          pair.set(indexed, w)
          add(`createRecord ${indexed ? 'on' : 'off'}`, w.perSec)
          add(`createRecord cpu µs ${indexed ? 'on' : 'off'}`, w.cpuUs)
        }
        const on = pair.get(true)!
        const off = pair.get(false)!
        add('createRecord on/off %', ((on.perSec - off.perSec) / off.perSec) * 100)
        add('createRecord cpu on-off µs', on.cpuUs - off.cpuUs)
        add('createRecord cpu on/off %', ((on.cpuUs - off.cpuUs) / off.cpuUs) * 100)
      }
      const { server, session: s } = servers.get(true)!
      const rng = seededRng(1000 + run)
      for (const shape of shapes(books)) {
        const queries = Array.from({ length: QUERIES }, () => ({ repo: s.did, ...shape.params(rng) }))
        await latencies(server.url, queries.slice(0, 50), 'app.carrel.library.searchBooks') // warm-up
        const r = await latencies(server.url, queries, 'app.carrel.library.searchBooks')
        add(`${shape.name} p50`, r.p50)
        add(`${shape.name} p99`, r.p99)
        add(`${shape.name} hits`, r.hits)
      }
      const stats = Array.from({ length: QUERIES }, () => ({ repo: s.did }))
      await latencies(server.url, stats.slice(0, 50), 'app.carrel.library.getStats')
      const st = await latencies(server.url, stats, 'app.carrel.library.getStats')
      add('getStats p50', st.p50)
      add('getStats p99', st.p99)
      const bytes = indexBytes(server.dataDir)
      add('index bytes/book', bytes.total / (BOOKS + WARMUP_WRITES + WRITES))
      bytesByName = bytes.byName
    } finally {
      for (const { server } of servers.values()) await server.stop()
    }
  }
  const m = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(median(v).toFixed(2))]))
  console.log(`\nlibrary benchmark: ${BOOKS} books, median of ${RUNS} runs`)
  console.log('  searchBooks                 p50 ms   p99 ms   books/answer')
  for (const shape of shapes(books)) {
    console.log(`    ${shape.name.padEnd(24)} ${m[`${shape.name} p50`]!.toFixed(2).padStart(6)}   ${m[`${shape.name} p99`]!.toFixed(2).padStart(6)}   ${m[`${shape.name} hits`]!.toFixed(1).padStart(6)}`)
  }
  console.log(`  getStats                     ${m['getStats p50']!.toFixed(2).padStart(6)}   ${m['getStats p99']!.toFixed(2).padStart(6)}`)
  console.log(`  index bytes per book       ${m['index bytes/book']!.toFixed(0).padStart(8)}`)
  for (const [name, bytes] of Object.entries(bytesByName)) console.log(`    ${name.padEnd(34)} ${(bytes / BOOKS).toFixed(0).padStart(6)}`)
  const pct = (on: number, off: number) => `${(((on - off) / off) * 100).toFixed(1)} %`
  console.log(`  applyWrites x 200 (fill)     index on ${m['fill on']!.toFixed(0)} books/s, off ${m['fill off']!.toFixed(0)} books/s (${pct(m['fill on']!, m['fill off']!)})`)
  const blocks = figures['createRecord on/off %']!.length
  const quartiles = (name: string) => {
    const v = [...figures[name]!].sort((a, b) => a - b)
    return `${percentile(v, 25).toFixed(1)} .. ${percentile(v, 75).toFixed(1)}`
  }
  console.log(`  createRecord, sequential     index on ${m['createRecord on']!.toFixed(0)} books/s, off ${m['createRecord off']!.toFixed(0)} books/s; paired blocks: ${m['createRecord on/off %']!.toFixed(1)} % (median of ${blocks}; quartiles ${quartiles('createRecord on/off %')} %)`)
  console.log(`  server CPU per createRecord  index on ${m['createRecord cpu µs on']!.toFixed(0)} µs, off ${m['createRecord cpu µs off']!.toFixed(0)} µs; paired blocks: +${m['createRecord cpu on-off µs']!.toFixed(0)} µs (quartiles ${quartiles('createRecord cpu on-off µs')}), ${m['createRecord cpu on/off %']!.toFixed(1)} %`)
  console.log(JSON.stringify({ bench: 'library', runs: RUNS, books: BOOKS, ...m }))
}
