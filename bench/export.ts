// npm run bench -- export: com.atproto.sync.getRepo on a 10,000-record and a 100,000-record repo
// (time, MB/s, server RSS; peak RSS sampled during the 100k export must stay within 100 MB of
// idle), then uploadBlob throughput for 1 MB blobs. Figures are medians over RUNS runs.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { TID } from '@atproto/common'
import { createAccount, median, startBenchServer, type Session } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const SMALL = Number(process.env.BENCH_EXPORT_SMALL ?? 10_000)
const LARGE = Number(process.env.BENCH_EXPORT_LARGE ?? 100_000)
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 30)
const BATCH = 200

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

async function fill(url: string, s: Session, n: number): Promise<number> {
  const start = performance.now()
  let i = 0
  while (i < n) {
    const count = Math.min(BATCH, n - i)
    const writes = Array.from({ length: count }, (_, k) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: 'app.carrel.bench.book',
      rkey: TID.nextStr(),
      value: {
        $type: 'app.carrel.bench.book',
        title: `Book number ${i + k}`,
        authors: ['Some Author', 'Another Author'],
        shelf: 'bench',
        createdAt: new Date().toISOString(),
      },
    }))
    const res = await fetch(`${url}/xrpc/com.atproto.repo.applyWrites`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.accessJwt}` },
      body: JSON.stringify({ repo: s.did, writes }),
    })
    if (!res.ok) throw new Error(`applyWrites: ${res.status} ${await res.text()}`)
    await res.arrayBuffer()
    i += count
  }
  return (performance.now() - start) / 1000
}

/** One export, streamed and counted (never held whole); RSS sampled every 5 ms meanwhile. */
async function exportOnce(url: string, did: string, pid: number): Promise<{ ms: number; bytes: number; peakRssMb: number }> {
  let peak = rssMb(pid)
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(pid))
  }, 5)
  const start = performance.now()
  const res = await fetch(`${url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`)
  if (!res.ok) throw new Error(`getRepo: ${res.status} ${await res.text()}`)
  let bytes = 0
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    bytes += value.length
  }
  const ms = performance.now() - start
  clearInterval(sampler)
  peak = Math.max(peak, rssMb(pid))
  return { ms, bytes, peakRssMb: peak }
}

async function exportRuns(url: string, did: string, pid: number, runs: number) {
  await exportOnce(url, did, pid) // warm-up
  const idleRssMb = rssMb(pid)
  const results = []
  for (let r = 0; r < runs; r++) results.push(await exportOnce(url, did, pid))
  const ms = median(results.map((x) => x.ms))
  const bytes = results[0]!.bytes
  return {
    ms,
    mb: bytes / 1e6,
    mbPerSec: bytes / 1e6 / (ms / 1000),
    idleRssMb,
    peakRssMb: Math.max(...results.map((x) => x.peakRssMb)),
  }
}

async function uploads(url: string, s: Session) {
  const body = new Uint8Array(randomBytes(1024 * 1024))
  const times: number[] = []
  const start = performance.now()
  for (let i = 0; i < UPLOADS; i++) {
    body[0] = i & 0xff // a different blob each time
    body[1] = (i >> 8) & 0xff
    const t = performance.now()
    const res = await fetch(`${url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${s.accessJwt}` },
      body,
    })
    if (!res.ok) throw new Error(`uploadBlob: ${res.status} ${await res.text()}`)
    await res.arrayBuffer()
    times.push(performance.now() - t)
  }
  const secs = (performance.now() - start) / 1000
  return { perSec: UPLOADS / secs, mbPerSec: (UPLOADS * 1.048576) / secs, medianMs: median(times) }
}

export default async function run(): Promise<void> {
  const server = await startBenchServer()
  try {
    const small = await createAccount(server.url, 'exportsmall')
    const fillSmall = await fill(server.url, small, SMALL)
    const s = await exportRuns(server.url, small.did, server.pid, RUNS)

    const large = await createAccount(server.url, 'exportlarge')
    const fillLarge = await fill(server.url, large, LARGE)
    const l = await exportRuns(server.url, large.did, server.pid, Math.max(3, Math.ceil(RUNS / 2)))

    const u = await uploads(server.url, small)

    const f = (n: number, d = 1) => n.toFixed(d).padStart(10)
    console.log(`\ncom.atproto.sync.getRepo (median of runs; server in a child process, RSS from /proc)`)
    console.log(`${'repo'.padEnd(14)}${'ms'.padStart(10)}${'MB'.padStart(10)}${'MB/s'.padStart(10)}${'idle RSS'.padStart(10)}${'peak RSS'.padStart(10)}${'target'.padStart(10)}`)
    console.log(`${`${SMALL} rec`.padEnd(14)}${f(s.ms)}${f(s.mb)}${f(s.mbPerSec)}${f(s.idleRssMb)}${f(s.peakRssMb)}${'≤ 50 ms'.padStart(10)}`)
    console.log(`${`${LARGE} rec`.padEnd(14)}${f(l.ms)}${f(l.mb)}${f(l.mbPerSec)}${f(l.idleRssMb)}${f(l.peakRssMb)}${'≤ 400 ms'.padStart(10)}`)
    console.log(`peak - idle RSS during the ${LARGE} export: ${(l.peakRssMb - l.idleRssMb).toFixed(1)} MB (limit 100 MB)`)
    console.log(`fill: ${SMALL} records in ${fillSmall.toFixed(1)} s, ${LARGE} in ${fillLarge.toFixed(1)} s`)
    console.log(`uploadBlob 1 MB x ${UPLOADS}: ${u.perSec.toFixed(1)}/s, ${u.mbPerSec.toFixed(1)} MB/s, median ${u.medianMs.toFixed(1)} ms\n`)
    console.log(
      JSON.stringify({
        bench: 'export',
        small: { records: SMALL, ms: +s.ms.toFixed(1), mb: +s.mb.toFixed(2), mbPerSec: +s.mbPerSec.toFixed(1), idleRssMb: +s.idleRssMb.toFixed(1), peakRssMb: +s.peakRssMb.toFixed(1) },
        large: { records: LARGE, ms: +l.ms.toFixed(1), mb: +l.mb.toFixed(2), mbPerSec: +l.mbPerSec.toFixed(1), idleRssMb: +l.idleRssMb.toFixed(1), peakRssMb: +l.peakRssMb.toFixed(1), rssGrowthMb: +(l.peakRssMb - l.idleRssMb).toFixed(1) },
        upload1mb: { perSec: +u.perSec.toFixed(1), mbPerSec: +u.mbPerSec.toFixed(1), medianMs: +u.medianMs.toFixed(1) },
        targets: { smallMs: 50, largeMs: 400, rssGrowthMb: 100 },
        pass: { small: s.ms <= 50, large: l.ms <= 400, rss: l.peakRssMb - l.idleRssMb <= 100 },
      }),
    )
  } finally {
    await server.stop()
  }
}
