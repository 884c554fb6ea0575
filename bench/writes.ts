// npm run bench -- writes: sequential createRecord, 4 clients x 4 concurrent writers,
// applyWrites batches of 200, getRecord at concurrency 16; server peak RSS. Each figure is the
// median of RUNS runs. Figures are for a server that has been running a while: each run first
// makes BENCH_WARMUP_WRITES createRecord calls (on an account of their own) because V8 goes on
// compiling the write path for the first ~4,000 of them, and its compiler thread shares the 2
// cores with the server and the client (BENCH_WARMUP_WRITES=0 measures the cold server). Each
// phase also starts with a short warm-up of its own operation.
import { TID } from '@atproto/common'
import { xrpcGet, xrpcPost } from './_client.ts'
import { createAccount, median, percentile, startBenchServer, type Session } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 1000)
const CONCURRENT_PER_WRITER = Number(process.env.BENCH_CONCURRENT ?? 100)
const BATCHES = Number(process.env.BENCH_BATCHES ?? 10)
const READS = Number(process.env.BENCH_READS ?? 8000)
const WARMUP_WRITES = Number(process.env.BENCH_WARMUP_WRITES ?? 4000)

let counter = 0
const post = () => ({ $type: 'app.bsky.feed.post', text: `bench post ${++counter}`, createdAt: new Date().toISOString() })

async function createRecord(url: string, s: Session): Promise<string> {
  const res = await xrpcPost(url, 'com.atproto.repo.createRecord', s.accessJwt, {
    repo: s.did,
    collection: 'app.bsky.feed.post',
    record: post(),
  })
  return res.uri
}

async function sequential(url: string, s: Session) {
  const lat: number[] = []
  const start = performance.now()
  for (let i = 0; i < SEQUENTIAL; i++) {
    const t = performance.now()
    await createRecord(url, s)
    lat.push(performance.now() - t)
  }
  const secs = (performance.now() - start) / 1000
  lat.sort((a, b) => a - b)
  return { perSec: SEQUENTIAL / secs, p50: percentile(lat, 50), p99: percentile(lat, 99) }
}

async function concurrent(url: string, sessions: Session[]) {
  const start = performance.now()
  await Promise.all(
    sessions.flatMap((s) =>
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < CONCURRENT_PER_WRITER; i++) await createRecord(url, s)
      }),
    ),
  )
  return (sessions.length * 4 * CONCURRENT_PER_WRITER) / ((performance.now() - start) / 1000)
}

async function batched(url: string, s: Session, batches = BATCHES) {
  const start = performance.now()
  for (let b = 0; b < batches; b++) {
    const writes = Array.from({ length: 200 }, () => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'app.bsky.feed.post',
      rkey: TID.nextStr(),
      value: post(),
    }))
    await xrpcPost(url, 'com.atproto.repo.applyWrites', s.accessJwt, { repo: s.did, writes })
  }
  return (batches * 200) / ((performance.now() - start) / 1000)
}

async function reads(url: string, uris: string[], count = READS) {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const uri = uris[next++ % uris.length]
        const [, , did, collection, rkey] = uri.split('/')
        await xrpcGet(url, 'com.atproto.repo.getRecord', { repo: did, collection, rkey })
      }
    }),
  )
  return count / ((performance.now() - start) / 1000)
}

export default async function run(): Promise<void> {
  const rows: Record<string, number[]> = { seqPerSec: [], seqP50: [], seqP99: [], concPerSec: [], batchPerSec: [], readsPerSec: [], peakRssMb: [] }
  for (let run = 0; run < RUNS; run++) {
    const server = await startBenchServer()
    try {
      const warm = await createAccount(server.url, `warm${run}`)
      for (let i = 0; i < WARMUP_WRITES; i++) await createRecord(server.url, warm)
      const a = await createAccount(server.url, `seq${run}`)
      for (let i = 0; i < 50; i++) await createRecord(server.url, a) // warm-up
      const phaseRss = (name: string) => process.env.BENCH_VERBOSE && console.log(`  ${name}: server RSS ${server.rss().currentMb.toFixed(0)} MB`)
      phaseRss('idle')
      const seq = await sequential(server.url, a)
      phaseRss('after sequential')
      rows.seqPerSec.push(seq.perSec)
      rows.seqP50.push(seq.p50)
      rows.seqP99.push(seq.p99)
      const sessions = await Promise.all([0, 1, 2, 3].map((i) => createAccount(server.url, `conc${run}x${i}`)))
      rows.concPerSec.push(await concurrent(server.url, sessions))
      phaseRss('after concurrent')
      const b = await createAccount(server.url, `batch${run}`)
      await batched(server.url, b, 3) // warm-up, as the sequential phase has
      rows.batchPerSec.push(await batched(server.url, b))
      phaseRss('after batched')
      const uris: string[] = []
      for (let i = 0; i < 200; i++) uris.push(await createRecord(server.url, a))
      await reads(server.url, uris, 2000) // warm-up
      rows.readsPerSec.push(await reads(server.url, uris))
      phaseRss('after reads')
      rows.peakRssMb.push(server.rss().peakMb)
    } finally {
      await server.stop()
    }
  }
  const figures = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, Number(median(v).toFixed(2))]))
  console.log(`\nwrites benchmark (median of ${RUNS} runs)`)
  console.log(`  sequential createRecord  ${figures.seqPerSec.toFixed(0).padStart(7)} records/s   p50 ${figures.seqP50.toFixed(2)} ms   p99 ${figures.seqP99.toFixed(2)} ms`)
  console.log(`  4 clients x 4 writers    ${figures.concPerSec.toFixed(0).padStart(7)} records/s`)
  console.log(`  applyWrites x 200        ${figures.batchPerSec.toFixed(0).padStart(7)} records/s`)
  console.log(`  getRecord, 16 in flight  ${figures.readsPerSec.toFixed(0).padStart(7)} reads/s`)
  console.log(`  server peak RSS          ${figures.peakRssMb.toFixed(0).padStart(7)} MB`)
  console.log(JSON.stringify({ bench: 'writes', runs: RUNS, ...figures }))
}
