// npm run bench -- firehose: live fan-out and cursor replay of com.atproto.sync.subscribeRepos.
// The server runs in its own process (bench/_server.ts) so its RSS is its own; the raw `ws`
// subscribers run in BENCH_FIREHOSE_SUB_PROCS child processes, the writer in this one. Latency:
// from the moment the writer has read the createRecord response to the moment a subscriber's
// 'message' handler runs (process.hrtime is CLOCK_MONOTONIC, shared by all processes). Negative
// values mean the event arrived before the writer had read its HTTP response.
//
// Everything here shares 2 cores with the server, so the harness keeps out of its way: the
// writer uses the lean HTTP client, subscribers read each frame's seq in place and keep only
// numbers, the server's write path is warmed up before anything is measured, and each live
// phase sends BENCH_FIREHOSE_WARMUP_WRITES unmeasured writes first. BENCH_FIREHOSE_DUMP=<prefix>
// writes every receipt time to <prefix>-<subscribers>.json for a closer look.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { decodeAll } from '@atproto/lex-cbor'
import { xrpcPost as leanPost } from './_client.ts'
import { frameSeq } from './_frame-seq.ts'
import { createAccount, percentile, startBenchServer, type BenchServer, type Session } from './_server.ts'

const SUBSCRIBER_COUNTS = (process.env.BENCH_FIREHOSE_SUBSCRIBERS ?? '50,500').split(',').filter(Boolean).map(Number)
const WRITES = Number(process.env.BENCH_FIREHOSE_WRITES ?? 200)
const SERVER_WARMUP_WRITES = Number(process.env.BENCH_FIREHOSE_SERVER_WARMUP_WRITES ?? 4000)
const WARMUP_WRITES = Number(process.env.BENCH_FIREHOSE_WARMUP_WRITES ?? 250)
const RATE = Number(process.env.BENCH_FIREHOSE_RATE ?? 50)
const REPLAY_EVENTS = Number(process.env.BENCH_FIREHOSE_REPLAY_EVENTS ?? 100_000)
const BATCH_SHARE = Number(process.env.BENCH_FIREHOSE_BATCH_SHARE ?? 0.1) // share of replay events that are applyWrites batches
const SUB_PROCS = Number(process.env.BENCH_FIREHOSE_SUB_PROCS ?? 2)
const FILL_CONCURRENCY = Number(process.env.BENCH_FIREHOSE_FILL_CONCURRENCY ?? 8)

const COLL = 'app.bsky.feed.post'
let counter = 0
const post = () => ({ $type: COLL, text: `firehose bench ${++counter}`, createdAt: new Date().toISOString() })

const nowNs = () => process.hrtime.bigint()

// the lean keep-alive client of the writes bench: fetch would take CPU from the subscribers
function xrpcPost(url: string, s: Session, nsid: string, body: unknown): Promise<any> {
  return leanPost(url, nsid, s.accessJwt, body)
}

function seqOf(frame: Uint8Array): { seq: number; rev?: string } {
  const [, body] = [...decodeAll(frame)] as any[]
  return { seq: body.seq, rev: body.rev }
}

/**
 * A subscriber; `onMessage` is attached before the upgrade: a replay's first frames can arrive
 * with the 101 answer, in the same read, before a listener attached once it is open.
 */
function connect(url: string, cursor?: number, onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos' + (cursor === undefined ? '' : `?cursor=${cursor}`))
  if (onMessage) ws.on('message', onMessage)
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

type LiveResult = {
  subscribers: number
  writes: number
  p50: number
  p99: number
  max: number
  p50FromRequest: number
  p99FromRequest: number
  /** per event: receipt by this subscriber - first receipt by any subscriber */
  spreadP99: number
  spreadMax: number
  lost: number
  dup: number
  /** server CPU per measured write: the createRecord call plus its fan-out */
  serverCpuMsPerEvent: number
  rssBeforeMb: number
  rssPeakDuringMb: number
  rssAfterMb: number
}

type ChildReport = { subs: { seqs: number[]; times: number[] }[]; revs: [number, string][] }

/** A child process holding `n` raw subscribers; it records (seq, receipt time) per message. */
function startSubscriberProcess(url: string, n: number): Promise<{ collect(): Promise<ChildReport>; stop(): void }> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_FIREHOSE_CHILD: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('message', (m: any) => {
      if (!m?.ready) return reject(new Error('subscriber process failed'))
      resolve({
        collect: () =>
          new Promise<ChildReport>((res) => {
            child.once('message', (r: any) => res(r as ChildReport))
            child.send({ cmd: 'collect' })
          }),
        stop: () => child.kill(),
      })
    })
    child.send({ cmd: 'connect', url, n })
  })
}

/**
 * Per message a subscriber keeps two numbers, its seq (read in place) and the receipt time; the
 * first copy of each event's frame is kept and fully decoded at the end, for its rev and to
 * check the in-place reader. Keeping every frame would have this process collecting garbage
 * on a core the server needs.
 */
async function childMain() {
  const received: { seqs: number[]; times: number[] }[] = []
  const firstFrames = new Map<number, Buffer>()
  const sockets: WebSocket[] = []
  process.on('message', async (m: any) => {
    if (m.cmd === 'connect') {
      for (let i = 0; i < m.n; i++) {
        const ws = await connect(m.url)
        const mine = { seqs: [] as number[], times: [] as number[] }
        ws.on('message', (data: Buffer) => {
          const t = Number(nowNs())
          const seq = frameSeq(data)
          mine.seqs.push(seq)
          mine.times.push(t)
          if (!firstFrames.has(seq)) firstFrames.set(seq, data)
        })
        received.push(mine)
        sockets.push(ws)
      }
      process.send!({ ready: true })
    } else if (m.cmd === 'collect') {
      for (const ws of sockets) ws.terminate()
      const revs: [number, string][] = []
      for (const [seq, frame] of firstFrames) {
        const full = seqOf(frame)
        if (full.seq !== seq) throw new Error(`frame seq reader: ${seq}, full decode: ${full.seq}`)
        if (full.rev) revs.push([seq, full.rev])
      }
      process.send!({ subs: received, revs }, () => process.exit(0))
    }
  })
}

async function live(server: BenchServer, writer: Session, n: number): Promise<LiveResult> {
  // subscribers live in child processes (one per SUB_PROCS), apart from the writer and the server
  const procs = await Promise.all(
    Array.from({ length: Math.min(SUB_PROCS, n) }, (_, k) =>
      startSubscriberProcess(server.url, Math.floor(n / SUB_PROCS) + (k < n % SUB_PROCS ? 1 : 0)),
    ),
  )
  await new Promise((r) => setTimeout(r, 300))
  const rssBefore = server.rss().currentMb
  let rssPeak = rssBefore
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, server.rss().currentMb)
  }, 50)

  // writes at a steady rate, scheduled on absolute times so slow responses do not slow the rate;
  // the first WARMUP_WRITES reach every subscriber but are not measured (the subscribers' own
  // receive path is still being compiled then)
  const sent: { rev: string; reqNs: number; resNs: number }[] = []
  const interval = 1000 / RATE
  const start = performance.now()
  const inflight: Promise<void>[] = []
  let cpuAtStart = 0
  for (let i = -WARMUP_WRITES; i < WRITES; i++) {
    const measured = i >= 0
    if (i === 0) {
      await Promise.all(inflight) // the warm-up's own calls are not counted
      cpuAtStart = server.cpuMs()
    }
    const due = start + (i + WARMUP_WRITES) * interval
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    inflight.push(
      (async () => {
        const reqNs = Number(nowNs())
        const out = await xrpcPost(server.url, writer, 'com.atproto.repo.createRecord', { repo: writer.did, collection: COLL, record: post() })
        const resNs = Number(nowNs())
        if (measured) sent.push({ rev: out.commit.rev, reqNs, resNs })
      })(),
    )
  }
  await Promise.all(inflight)
  await new Promise((r) => setTimeout(r, 2000)) // let the last events arrive
  const serverCpuMsPerEvent = (server.cpuMs() - cpuAtStart) / WRITES
  clearInterval(sampler)
  rssPeak = Math.max(rssPeak, server.rss().currentMb)
  const reports = await Promise.all(procs.map((p) => p.collect()))

  const byRev = new Map(sent.map((s) => [s.rev, s]))
  const lat: number[] = []
  const latReq: number[] = []
  const receipts = new Map<string, number[]>()
  let lost = 0
  let dup = 0
  for (const report of reports) {
    const revOf = new Map(report.revs)
    for (const mine of report.subs) {
      const seen = new Set<string>()
      let lastSeq = 0
      for (let k = 0; k < mine.seqs.length; k++) {
        const seq = mine.seqs[k]
        const t = mine.times[k]
        if (seq <= lastSeq) dup++
        lastSeq = seq
        const rev = revOf.get(seq)
        if (!rev || !byRev.has(rev)) continue
        if (seen.has(rev)) continue
        seen.add(rev)
        const w = byRev.get(rev)!
        const r = receipts.get(rev) ?? []
        r.push(t)
        receipts.set(rev, r)
        lat.push((t - w.resNs) / 1e6)
        latReq.push((t - w.reqNs) / 1e6)
      }
      lost += WRITES - seen.size
    }
  }
  if (process.env.BENCH_FIREHOSE_DUMP) {
    const { writeFileSync } = await import('node:fs')
    writeFileSync(`${process.env.BENCH_FIREHOSE_DUMP}-${n}.json`, JSON.stringify({ sent, reports }))
  }
  const spread: number[] = []
  for (const ts of receipts.values()) {
    const first = Math.min(...ts)
    for (const t of ts) spread.push((t - first) / 1e6)
  }
  spread.sort((a, b) => a - b)
  for (const p of procs) p.stop()
  await new Promise((r) => setTimeout(r, 500))
  lat.sort((a, b) => a - b)
  latReq.sort((a, b) => a - b)
  return {
    subscribers: n,
    writes: WRITES,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1],
    p50FromRequest: percentile(latReq, 50),
    p99FromRequest: percentile(latReq, 99),
    spreadP99: percentile(spread, 99),
    spreadMax: spread[spread.length - 1],
    lost,
    dup,
    serverCpuMsPerEvent,
    rssBeforeMb: rssBefore,
    rssPeakDuringMb: rssPeak,
    rssAfterMb: server.rss().currentMb,
  }
}

type ReplayResult = {
  events: number
  singleOpEvents: number
  batchEvents: number
  fillSecs: number
  fillPerSec: number
  rssBeforeMb: number
  replaySecs: number
  eventsPerSec: number
  mbPerSec: number
  rssPeakMb: number
}

async function replay(server: BenchServer, sessions: Session[]): Promise<ReplayResult> {
  // the cursor: the current head, read from a live connection's first event
  const probe = await connect(server.url)
  const firstSeq = new Promise<number>((resolve) => probe.once('message', (d) => resolve(seqOf(d as Buffer).seq)))
  await xrpcPost(server.url, sessions[0], 'com.atproto.repo.createRecord', { repo: sessions[0].did, collection: COLL, record: post() })
  const cursor = await firstSeq
  probe.terminate()

  // fill: single creates, plus applyWrites batches of 10 creates
  const step = BATCH_SHARE > 0 ? Math.round(1 / BATCH_SHARE) : Infinity
  const batches = Number.isFinite(step) ? Math.ceil(REPLAY_EVENTS / step) : 0
  const singles = REPLAY_EVENTS - batches
  const fillStart = performance.now()
  let next = 0
  let done = 0
  const workers = Array.from({ length: FILL_CONCURRENCY }, async (_, w) => {
    const s = sessions[w % sessions.length]
    for (;;) {
      const i = next++
      if (i >= REPLAY_EVENTS) return
      if (i % step === 0) {
        await xrpcPost(server.url, s, 'com.atproto.repo.applyWrites', {
          repo: s.did,
          writes: Array.from({ length: 10 }, () => ({ $type: 'com.atproto.repo.applyWrites#create', collection: COLL, value: post() })),
        })
      } else {
        await xrpcPost(server.url, s, 'com.atproto.repo.createRecord', { repo: s.did, collection: COLL, record: post() })
      }
      if (++done % 10_000 === 0) process.stderr.write(`  fill: ${done} events, ${(done / ((performance.now() - fillStart) / 1000)).toFixed(0)}/s\n`)
    }
  })
  await Promise.all(workers)
  const fillSecs = (performance.now() - fillStart) / 1000

  const rssBefore = server.rss().currentMb
  let rssPeak = rssBefore
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, server.rss().currentMb)
  }, 50)
  let count = 0
  let bytes = 0
  let last: Uint8Array | undefined
  const t0 = performance.now()
  let replayed!: () => void
  const replayDone = new Promise<void>((resolve) => (replayed = resolve))
  const ws = await connect(server.url, cursor, (d) => {
    count++
    bytes += d.length
    if (count >= REPLAY_EVENTS) {
      last = d
      replayed()
    }
  })
  await replayDone
  const replaySecs = (performance.now() - t0) / 1000
  clearInterval(sampler)
  ws.terminate()
  const lastSeq = seqOf(last!).seq
  if (lastSeq !== cursor + REPLAY_EVENTS) throw new Error(`replay ended at seq ${lastSeq}, expected ${cursor + REPLAY_EVENTS}`)
  return {
    events: count,
    singleOpEvents: singles,
    batchEvents: batches,
    fillSecs,
    fillPerSec: REPLAY_EVENTS / fillSecs,
    rssBeforeMb: rssBefore,
    replaySecs,
    eventsPerSec: count / replaySecs,
    mbPerSec: bytes / 1e6 / replaySecs,
    rssPeakMb: rssPeak,
  }
}

export default async function run(): Promise<void> {
  const server = await startBenchServer({ PDS_FIREHOSE_QUEUE_LENGTH: '500' })
  try {
    const writer = await createAccount(server.url, `fhw${Date.now() % 100000}`)
    // warm-up, as in the writes bench: V8 compiles the write path over its first ~4,000 calls (at
    // 50 writes/s the live phases alone would still be compiling it while they measure)
    for (let i = 0; i < SERVER_WARMUP_WRITES; i++) await xrpcPost(server.url, writer, 'com.atproto.repo.createRecord', { repo: writer.did, collection: COLL, record: post() })

    const liveResults: LiveResult[] = []
    for (const n of SUBSCRIBER_COUNTS) liveResults.push(await live(server, writer, n))

    const sessions = [writer]
    for (let i = 0; i < 3; i++) sessions.push(await createAccount(server.url, `fhr${i}x${Date.now() % 100000}`))
    const rep = REPLAY_EVENTS > 0 ? await replay(server, sessions) : undefined

    console.log('\nsubscribeRepos live fan-out (' + WRITES + ' writes at ' + RATE + '/s; latency = receipt - HTTP response, ms)')
    console.table(
      liveResults.map((r) => ({
        subscribers: r.subscribers,
        'p50 ms': r.p50.toFixed(2),
        'p99 ms': r.p99.toFixed(2),
        'max ms': r.max.toFixed(2),
        'from request p50/p99 ms': `${r.p50FromRequest.toFixed(1)} / ${r.p99FromRequest.toFixed(1)}`,
        'fan-out spread p99/max ms': `${r.spreadP99.toFixed(2)} / ${r.spreadMax.toFixed(2)}`,
        lost: r.lost,
        duplicates: r.dup,
        'server CPU ms/write': r.serverCpuMsPerEvent.toFixed(2),
        'server RSS before MB': r.rssBeforeMb.toFixed(1),
        'peak MB': r.rssPeakDuringMb.toFixed(1),
        'after MB': r.rssAfterMb.toFixed(1),
      })),
    )
    if (rep) {
      console.log(`\nreplay from a cursor ${rep.events} events back (${rep.singleOpEvents} single-create + ${rep.batchEvents} applyWrites-of-10 events; fill took ${rep.fillSecs.toFixed(0)} s)`)
      console.table([
        {
          events: rep.events,
          'seconds': rep.replaySecs.toFixed(2),
          'events/s': rep.eventsPerSec.toFixed(0),
          'MB/s': rep.mbPerSec.toFixed(1),
          'server RSS before / peak MB': `${rep.rssBeforeMb.toFixed(1)} / ${rep.rssPeakMb.toFixed(1)}`,
        },
      ])
    }
    console.log(JSON.stringify({ bench: 'firehose', live: liveResults, replay: rep ?? null }))
  } finally {
    await server.stop()
  }
}

if (process.env.BENCH_FIREHOSE_CHILD === '1') await childMain()
