// npm run bench -- sync: the Library Manager's sync methods against the compiled server in a
// child process. Each run uses an account of its own:
// - getChanges of 1,000 ops: 1,000 book records created after `since` (5 applyWrites of 200),
//   fetched as one page (limit 1000; bar p99 <= 30 ms; request to last byte, not parsed) and as
//   ten pages of 100 (a whole catch-up, each page parsed for its cursor);
// - heartbeat and putSettings (compare-and-swap on the version just written), sequentially.
// Figures are medians over RUNS runs of each run's p50 and p99. BENCH_RUNS (5), BENCH_REQUESTS
// (200 getChanges per run), BENCH_WRITES (500 heartbeats and putSettings per run).
import { request, xrpcPost } from './_client.ts'
import { createAccount, median, percentile, startBenchServer, type Session } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200)
const WRITES = Number(process.env.BENCH_WRITES ?? 500)
const OPS = 1000
const BOOK = 'app.carrel.library.book'

const WORDS = ['Night', 'River', 'Garden', 'Winter', 'Letters', 'Empire', 'Silence', 'Stone', 'Light', 'House', 'Sea', 'Road']
const AUTHORS = ['Fyodor Dostoevsky', 'Toni Morrison', 'Haruki Murakami', 'Chimamanda Ngozi Adichie', 'Italo Calvino', 'Olga Tokarczuk']

/** A book as the Library Manager stores one (~500 bytes of JSON). */
function book(i: number) {
  const w = (k: number) => WORDS[(i * 7 + k * 5) % WORDS.length]
  return {
    $type: BOOK,
    title: `The ${w(0)} of ${w(1)} and ${w(2)}`,
    subtitle: `A novel in ${(i % 9) + 2} parts`,
    authors: [AUTHORS[i % AUTHORS.length], AUTHORS[(i + 3) % AUTHORS.length]],
    publisher: 'Bench House',
    publishedDate: `${1900 + (i % 120)}`,
    pages: 120 + (i % 700),
    tags: ['fiction', w(3).toLowerCase(), `list-${i % 13}`],
    shelf: `Shelf ${i % 12}`,
    readingStatus: ['toRead', 'reading', 'finished', 'abandoned'][i % 4],
    rating: (i % 5) + 1,
    notes: `Notes on book ${i}: ${w(4)} ${w(5)} ${w(6)}, read slowly, lent to a friend once, the ending is worth it.`,
    createdAt: new Date().toISOString(),
  }
}

async function latestRev(url: string, did: string): Promise<string> {
  const res = await request(`${url}/xrpc/com.atproto.sync.getLatestCommit?did=${encodeURIComponent(did)}`)
  return (JSON.parse(res.body.toString()) as { rev: string }).rev
}

async function getChangesBody(url: string, params: Record<string, string>): Promise<Buffer> {
  const res = await request(`${url}/xrpc/app.carrel.sync.getChanges?${new URLSearchParams(params)}`)
  if (res.status !== 200) throw new Error(`getChanges: ${res.status} ${res.body.toString()}`)
  return res.body
}

/** The answer parsed; the cursor alone is found without parsing (the timed single page is not parsed). */
async function getChanges(url: string, params: Record<string, string>): Promise<{ changes: unknown[]; cursor?: string; bytes: number }> {
  const body = await getChangesBody(url, params)
  return { ...(JSON.parse(body.toString()) as { changes: unknown[]; cursor?: string }), bytes: body.length }
}

function latencies(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

async function timed(n: number, fn: (i: number) => Promise<void>): Promise<{ p50: number; p99: number }> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn(i)
    out.push(performance.now() - t)
  }
  return latencies(out)
}

async function oneRun(url: string, s: Session, run: number) {
  const since = await latestRev(url, s.did)
  for (let b = 0; b < OPS / 200; b++) {
    await xrpcPost(url, 'com.atproto.repo.applyWrites', s.accessJwt, {
      repo: s.did,
      validate: false,
      writes: Array.from({ length: 200 }, (_, k) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: BOOK, value: book(b * 200 + k) })),
    })
  }
  const whole = { repo: s.did, since, limit: String(OPS) }
  const probe = await getChanges(url, whole)
  if (probe.changes.length !== OPS || probe.cursor) throw new Error(`expected ${OPS} changes in one page, got ${probe.changes.length}`)
  for (let i = 0; i < 20; i++) await getChangesBody(url, whole) // warm-up
  // request to last byte received; the client's JSON.parse is not counted (it is the client's)
  const onePage = await timed(REQUESTS, async () => {
    await getChangesBody(url, whole)
  })
  const paged = await timed(Math.max(10, REQUESTS / 10), async () => {
    let cursor: string | undefined
    let n = 0
    do {
      const page = await getChanges(url, { repo: s.did, since, limit: '100', ...(cursor ? { cursor } : {}) })
      n += page.changes.length
      cursor = page.cursor
    } while (cursor)
    if (n !== OPS) throw new Error(`paged: ${n} changes`)
  })

  const device = `bench-device-${run}`
  await xrpcPost(url, 'com.atproto.repo.putRecord', s.accessJwt, {
    repo: s.did,
    collection: 'app.carrel.sync.device',
    rkey: device,
    record: { $type: 'app.carrel.sync.device', name: 'Bench laptop', platform: 'linux', appVersion: '1.0.0', createdAt: new Date().toISOString() },
  })
  const heartbeat = await timed(WRITES, async () => {
    await xrpcPost(url, 'app.carrel.sync.heartbeat', s.accessJwt, { device, rev: since, appVersion: '1.0.1' })
  })
  let version = 0
  const settings = { theme: 'dark', sortOrder: 'title', sortDirection: 'ascending', viewMode: 'grid', syncIntervalSeconds: 300, coverSync: true }
  const putSettings = await timed(WRITES, async (i) => {
    const res = await xrpcPost(url, 'app.carrel.sync.putSettings', s.accessJwt, { version, settings: { ...settings, defaultShelf: `Shelf ${i}` } })
    version = res.version
  })
  return { onePage, paged, heartbeat, putSettings, pageKb: probe.bytes / 1024 }
}

export default async function run(): Promise<void> {
  const server = await startBenchServer()
  try {
    const runs: Awaited<ReturnType<typeof oneRun>>[] = []
    for (let r = 0; r < RUNS; r++) runs.push(await oneRun(server.url, await createAccount(server.url, `syncbench${r}`), r))
    const med = (pick: (x: (typeof runs)[number]) => number) => median(runs.map(pick))
    const rows: [string, { p50: number; p99: number }, string][] = [
      [`getChanges ${OPS} ops, 1 page`, { p50: med((x) => x.onePage.p50), p99: med((x) => x.onePage.p99) }, 'p99 ≤ 30 ms'],
      [`getChanges ${OPS} ops, 10 pages`, { p50: med((x) => x.paged.p50), p99: med((x) => x.paged.p99) }, ''],
      ['heartbeat', { p50: med((x) => x.heartbeat.p50), p99: med((x) => x.heartbeat.p99) }, ''],
      ['putSettings', { p50: med((x) => x.putSettings.p50), p99: med((x) => x.putSettings.p99) }, ''],
    ]
    const f = (n: number) => n.toFixed(2).padStart(10)
    console.log(`\napp.carrel.sync.* (ms; medians of ${RUNS} runs; server in a child process)`)
    console.log(`${'call'.padEnd(32)}${'p50'.padStart(10)}${'p99'.padStart(10)}  target`)
    for (const [name, l, target] of rows) console.log(`${name.padEnd(32)}${f(l.p50)}${f(l.p99)}  ${target}`)
    const pageKb = med((x) => x.pageKb)
    console.log(`one page of ${OPS} changes: ${pageKb.toFixed(0)} KB of JSON\n`)
    const out = (l: { p50: number; p99: number }) => ({ p50: +l.p50.toFixed(2), p99: +l.p99.toFixed(2) })
    console.log(
      JSON.stringify({
        bench: 'sync',
        runs: RUNS,
        getChanges1000: out(rows[0]![1]),
        getChanges1000Paged: out(rows[1]![1]),
        heartbeat: out(rows[2]![1]),
        putSettings: out(rows[3]![1]),
        pageKb: +pageKb.toFixed(0),
        targets: { getChanges1000P99Ms: 30 },
        pass: { getChanges1000: rows[0]![1].p99 <= 30 },
      }),
    )
  } finally {
    await server.stop()
  }
}
