// An acknowledged write survives kill -9: the server runs as a child process started by
// `npm start` (tests/_server-process.ts), is killed with SIGKILL while writes are in flight, and
// is started again on the same data directory. Then it is killed and restarted a few more times,
// and the median time from spawning `npm start` to a healthy /xrpc/_health is printed (a figure,
// not an assertion: timing depends on the machine).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { formatDidKey, multibaseToBytes, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { cborDecodeMulti } from '@atproto/common'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from './_server-process.ts'

let plc: Plc
let dataDir: string
let port: number
let server: ServerProcess | undefined
/** spawn-to-healthy of every restart on the crashed data directory */
const restartMs: number[] = []

async function startServer(): Promise<void> {
  server = await startServerProcess(port, { PDS_DATA_DIRECTORY: dataDir, PDS_DID_PLC_URL: plc.url, LOG_LEVEL: 'silent' })
}

function killHard(): Promise<void> {
  return stopServerProcess(server!, 'SIGKILL')
}

test.before(async () => {
  plc = await startPlc()
  dataDir = mkdtempSync(join(tmpdir(), 'carrel-crash-'))
  port = await freePort()
  await startServer()
})

test.after(async () => {
  if (server) await killHard()
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('every acknowledged write survives SIGKILL; the repo and the event log stay consistent', async () => {
  const agent = new AtpAgent({ service: `http://localhost:${port}` })
  await agent.createAccount({ handle: 'crash.test', email: 'crash@mail.test', password: 'correct horse battery staple' })
  const did = agent.session!.did

  // four writers keep going until the process dies under them
  const acknowledged: string[] = []
  let stop = false
  const writers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        const res = await agent.com.atproto.repo.createRecord({
          repo: did,
          collection: 'app.carrel.library.book',
          record: { title: `Book ${acknowledged.length}`, createdAt: new Date().toISOString() },
        })
        acknowledged.push(res.data.uri)
      } catch {
        return // the server is gone
      }
    }
  })
  while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 5))
  await killHard()
  stop = true
  await Promise.all(writers)

  await startServer()
  restartMs.push(server!.startMs)
  const again = new AtpAgent({ service: `http://localhost:${port}` })
  const stored = new Set<string>()
  let cursor: string | undefined
  do {
    const page = await again.com.atproto.repo.listRecords({ repo: did, collection: 'app.carrel.library.book', limit: 100, cursor })
    for (const r of page.data.records) stored.add(r.uri)
    cursor = page.data.cursor
  } while (cursor)
  for (const uri of acknowledged) assert.ok(stored.has(uri), `acknowledged write lost: ${uri}`)

  // the exported repo verifies against the DID document's key and holds exactly what is listed
  const doc = (await (await fetch(`${plc.url}/${did}`)).json()) as { verificationMethod: { id: string; type: string; publicKeyMultibase: string }[] }
  const vm = doc.verificationMethod.find((m) => m.id.endsWith('#atproto'))!
  const key =
    vm.type === 'Multikey' ? `did:key:${vm.publicKeyMultibase}` : formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(vm.publicKeyMultibase))
  const car = await again.com.atproto.sync.getRepo({ did })
  const { root: commitCid, blocks } = await readCarWithRoot(car.data)
  const verified = await verifyRepo(blocks, commitCid, did, key)
  assert.is(verified.creates.length, stored.size)

  // the event log ends at the stored head: one #commit per commit, seqs without gaps
  const frames: Uint8Array[] = []
  const ws = new WebSocket(`ws://localhost:${port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
  ws.binaryType = 'arraybuffer'
  await new Promise<void>((resolve, reject) => {
    ws.onmessage = (m) => {
      frames.push(new Uint8Array(m.data as ArrayBuffer))
      const [, body] = cborDecodeMulti(frames[frames.length - 1]) as [unknown, { commit?: { toString(): string } }]
      if (body.commit?.toString() === commitCid.toString()) resolve()
    }
    ws.onerror = () => reject(new Error('firehose error'))
    setTimeout(() => reject(new Error(`head commit not in the log after ${frames.length} events`)), 10_000)
  })
  ws.close()
  const seqs = frames.map((f) => (cborDecodeMulti(f)[1] as { seq: number }).seq)
  seqs.forEach((s, i) => assert.is(s, i + 1))
  const commits = frames.filter((f) => (cborDecodeMulti(f)[0] as { t: string }).t === '#commit').length
  assert.is(commits, stored.size + 1) // the empty first commit, then one per record
})

test('restart after kill -9: time from `npm start` to healthy (printed)', async () => {
  for (let i = 0; i < 5; i++) {
    await killHard()
    await startServer()
    restartMs.push(server!.startMs)
  }
  // the data survived all of them
  const res = await fetch(`http://localhost:${port}/xrpc/com.atproto.sync.listRepos`)
  assert.is(((await res.json()) as { repos: unknown[] }).repos.length, 1)
  const sorted = [...restartMs].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]!
  console.log(
    `[figure] restart to healthy after kill -9 (npm start, PDS_DID_PLC_URL set): median ${Math.round(median)} ms ` +
      `of ${sorted.length} (${sorted.map((ms) => Math.round(ms)).join(', ')})`,
  )
})

test.run()
