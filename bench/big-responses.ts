// npm run bench -- big-responses: the server's RSS while it answers what one account can make
// big: 100 records of ~900 kB (written two to a commit, so 50 #commit frames of ~1.9 MB). Each
// case runs on a fresh server (RSS rarely shrinks, so cases would hide one another) and reports
// the peak RSS above the RSS just before it (sampled every 5 ms from /proc), and the same for
// its anonymous part (RSS counts the database pages SQLite's mmap touched, which are the page
// cache's, not the process's own memory):
//   getBlocks        all 100 blocks in one request, read by the client
//   getBlocks-stall  the same request from BENCH_BIG_STALLED clients that never read
//   listRecords      limit=100, paged to the end
//   replay           subscribeRepos?cursor=0 read to the end
//   replay-stall     BENCH_BIG_STALLED subscribers from cursor=0 that never read
//   getRepo          the whole repo, read by the client
// Stalled clients are held for BENCH_BIG_HOLD_MS. BENCH_BIG_CASES=a,b runs only those cases.
// BENCH_SERVER_ENTRY runs another build (e.g. an
// older commit's dist/src/index.js) for comparison.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { WebSocket } from 'ws'
import { createAccount, startBenchServer, type BenchServer, type Session } from './_server.ts'

const RECORDS = 100
const STALLED = Number(process.env.BENCH_BIG_STALLED ?? 10)
const HOLD_MS = Number(process.env.BENCH_BIG_HOLD_MS ?? 3000)
const COLL = 'app.carrel.bench.big'

async function xrpc(url: string, s: Session | null, nsid: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}/xrpc/${nsid}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(s ? { authorization: `Bearer ${s.accessJwt}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${nsid}: ${res.status} ${await res.text()}`)
  return res.json()
}

async function fill(url: string, s: Session): Promise<string[]> {
  const cids: string[] = []
  for (let i = 0; i < RECORDS; i += 2) {
    const out = await xrpc(url, s, 'com.atproto.repo.applyWrites', {
      repo: s.did,
      writes: [i, i + 1].map((n) => ({
        $type: 'com.atproto.repo.applyWrites#create',
        collection: COLL,
        rkey: `big${String(n).padStart(3, '0')}`,
        value: { $type: COLL, text: randomBytes(690_000).toString('base64') },
      })),
    })
    for (const r of out.results) cids.push(r.cid)
  }
  return cids
}

/** Reads a response to the end without keeping it. */
async function drain(res: Response): Promise<number> {
  if (!res.ok) throw new Error(`${res.url}: ${res.status}`)
  let n = 0
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return n
    n += value.length
  }
}

function stalledGet(url: string, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1')
    socket.on('error', () => {})
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
      socket.once('data', () => {
        socket.pause()
        resolve(socket)
      })
    })
    socket.once('error', reject)
  })
}

function subscribe(url: string, cursor: number): WebSocket {
  return new WebSocket(`${url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=${cursor}`)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Case = (server: BenchServer, s: Session, cids: string[]) => Promise<void>

const cases: Record<string, Case> = {
  async getBlocks(server, s, cids) {
    const q = new URLSearchParams({ did: s.did })
    for (const c of cids) q.append('cids', c)
    await drain(await fetch(`${server.url}/xrpc/com.atproto.sync.getBlocks?${q}`))
  },
  async 'getBlocks-stall'(server, s, cids) {
    const q = new URLSearchParams({ did: s.did })
    for (const c of cids) q.append('cids', c)
    const sockets = await Promise.all(Array.from({ length: STALLED }, () => stalledGet(server.url, `/xrpc/com.atproto.sync.getBlocks?${q}`)))
    await sleep(HOLD_MS)
    for (const socket of sockets) socket.destroy()
  },
  async listRecords(server, s) {
    let cursor: string | undefined
    do {
      const q = new URLSearchParams({ repo: s.did, collection: COLL, limit: '100', ...(cursor ? { cursor } : {}) })
      const page = await xrpc(server.url, null, `com.atproto.repo.listRecords?${q}`)
      cursor = page.cursor
    } while (cursor)
  },
  async replay(server) {
    await new Promise<void>((resolve, reject) => {
      const ws = subscribe(server.url, 0)
      let frames = 0
      ws.on('message', () => {
        // account creation: 4 events, then 50 commits
        if (++frames === 54) {
          ws.close()
          resolve()
        }
      })
      ws.once('error', reject)
    })
  },
  async 'replay-stall'(server) {
    const subs = await Promise.all(
      Array.from(
        { length: STALLED },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = subscribe(server.url, 0)
            ws.once('open', () => {
              ws.pause()
              resolve(ws)
            })
            ws.once('error', reject)
          }),
      ),
    )
    await sleep(HOLD_MS)
    for (const ws of subs) ws.terminate()
  },
  async getRepo(server, s) {
    await drain(await fetch(`${server.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(s.did)}`))
  },
}

export default async function run(): Promise<void> {
  const only = (process.env.BENCH_BIG_CASES ?? '').split(',').filter(Boolean)
  const rows: { name: string; beforeMb: number; peakMb: number; growthMb: number; anonGrowthMb: number }[] = []
  for (const [name, fn] of Object.entries(cases)) {
    if (only.length > 0 && !only.includes(name)) continue
    const server = await startBenchServer()
    try {
      const s = await createAccount(server.url, 'bigwriter')
      const cids = await fill(server.url, s)
      await sleep(500)
      const before = server.rss()
      let peakMb = before.currentMb
      let peakAnonMb = before.anonMb
      const sample = () => {
        const now = server.rss()
        peakMb = Math.max(peakMb, now.currentMb)
        peakAnonMb = Math.max(peakAnonMb, now.anonMb)
      }
      const sampler = setInterval(sample, 5)
      await fn(server, s, cids)
      clearInterval(sampler)
      sample()
      rows.push({ name, beforeMb: before.currentMb, peakMb, growthMb: peakMb - before.currentMb, anonGrowthMb: peakAnonMb - before.anonMb })
    } finally {
      await server.stop()
    }
  }
  const f = (n: number) => n.toFixed(1).padStart(12)
  console.log(`\nserver RSS answering 100 records of ~900 kB (${STALLED} stalled clients where stalled)`)
  console.log(`${'case'.padEnd(18)}${'before MB'.padStart(12)}${'peak MB'.padStart(12)}${'growth MB'.padStart(12)}${'anon growth'.padStart(12)}`)
  for (const r of rows) console.log(`${r.name.padEnd(18)}${f(r.beforeMb)}${f(r.peakMb)}${f(r.growthMb)}${f(r.anonGrowthMb)}`)
  console.log()
  const figures = (r: (typeof rows)[number]) => ({
    beforeMb: +r.beforeMb.toFixed(1),
    peakMb: +r.peakMb.toFixed(1),
    growthMb: +r.growthMb.toFixed(1),
    anonGrowthMb: +r.anonGrowthMb.toFixed(1),
  })
  console.log(JSON.stringify({ bench: 'big-responses', stalled: STALLED, cases: Object.fromEntries(rows.map((r) => [r.name, figures(r)])) }))
}
