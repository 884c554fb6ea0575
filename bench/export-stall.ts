// npm run bench -- export-stall: the WAL with a stalled getRepo client. A ~24 MB repo is
// exported to a raw socket that reads the status line and never reads again; meanwhile
// BENCH_STALL_WRITERS accounts write small records as fast as they can for BENCH_STALL_SECONDS.
// Prints the WAL file's size over time. While a read snapshot is held, no checkpoint can start
// the WAL over, so it grows with every write; once the export is cut (PDS_EXPORT_STALL_TIMEOUT_MS,
// default 30 s) it is reused from its start and stops growing. BENCH_SERVER_ENTRY runs another
// build of the server (e.g. an older commit's dist/src/index.js) under the same load.
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { stalledGet } from '../tests/_stall.ts'
import { createAccount, startBenchServer, type Session } from './_server.ts'

const SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 90)
const WRITERS = Number(process.env.BENCH_STALL_WRITERS ?? 4)

async function post(url: string, s: Session, nsid: string, body: unknown): Promise<void> {
  const res = await fetch(`${url}/xrpc/${nsid}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.accessJwt}` },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${nsid}: ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
}

export default async function run(): Promise<void> {
  const server = await startBenchServer()
  const wal = join(server.dataDir, 'carrel.sqlite-wal')
  const walMb = () => {
    try {
      return statSync(wal).size / 1e6
    } catch {
      return 0
    }
  }
  try {
    const owner = await createAccount(server.url, 'stallowner')
    for (let i = 0; i < 24; i++) {
      await post(server.url, owner, 'com.atproto.repo.createRecord', {
        repo: owner.did,
        collection: 'app.carrel.bench.big',
        record: { $type: 'app.carrel.bench.big', text: randomBytes(675_000).toString('base64') },
      })
    }
    const writers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => createAccount(server.url, `stallwriter${i}`)))
    const socket = await stalledGet(server.url, `/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(owner.did)}`)

    const start = performance.now()
    const samples: { s: number; walMb: number }[] = []
    let writes = 0
    let maxWal = 0
    const sampler = setInterval(() => (maxWal = Math.max(maxWal, walMb())), 100)
    const marks = setInterval(() => samples.push({ s: Math.round((performance.now() - start) / 1000), walMb: +walMb().toFixed(1) }), 10_000)
    await Promise.all(
      writers.map(async (w) => {
        while (performance.now() - start < SECONDS * 1000) {
          await post(server.url, w, 'com.atproto.repo.createRecord', {
            repo: w.did,
            collection: 'app.carrel.bench.note',
            record: { $type: 'app.carrel.bench.note', text: `note ${writes}`, createdAt: new Date().toISOString() },
          })
          writes++
        }
      }),
    )
    clearInterval(sampler)
    clearInterval(marks)
    maxWal = Math.max(maxWal, walMb())
    socket.destroy()

    console.log(`\nWAL with a stalled getRepo client (${WRITERS} writers, ${SECONDS} s, ${writes} createRecord calls)`)
    console.log(`${'after s'.padEnd(10)}${'WAL MB'.padStart(10)}`)
    for (const x of samples) console.log(`${String(x.s).padEnd(10)}${x.walMb.toFixed(1).padStart(10)}`)
    console.log(`largest WAL: ${maxWal.toFixed(1)} MB\n`)
    console.log(JSON.stringify({ bench: 'export-stall', seconds: SECONDS, writers: WRITERS, writes, maxWalMb: +maxWal.toFixed(1), samples }))
  } finally {
    await server.stop()
  }
}
