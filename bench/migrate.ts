// npm run bench -- migrate: com.atproto.repo.importRepo of a BENCH_IMPORT_RECORDS-record repo
// (default 100,000 app.bsky.feed.post records) into an account arriving with its DID, on a fresh
// server each run: the time from sending the CAR to the answer, the server's RSS (idle before,
// peak sampled every 5 ms during the import: the CAR must stream, never be held whole), and the
// longest wait of a /xrpc/_health probe sent every 10 ms meanwhile (the replacing transaction
// holds the event loop). The benchmark plays the account's old server: it registers a did:plc
// whose signing key it holds and builds and signs the repo itself (with Carrel's MST code, which
// tests/mst-tree.test.ts holds to @atproto/repo's). Medians over BENCH_RUNS runs (default 3).
import { TID } from '@atproto/common'
import { Secp256k1Keypair } from '@atproto/crypto'
import type { Cid } from '@atproto/lex-data'
import { createServiceJwt } from '@atproto/xrpc-server'
import * as plc from '@did-plc/lib'
import { encodeCar } from '../src/repo/car.ts'
import { cidToString, encodeRecord } from '../src/repo/cid.ts'
import { signCommit } from '../src/repo/commit.ts'
import { MstEdit, MstNode } from '../src/repo/mst-tree.ts'
import { SigningKey } from '../src/repo/signing-key.ts'
import { startPlc } from '../tests/_harness.ts'
import { request } from './_client.ts'
import { median, startBenchServer } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const RECORDS = Number(process.env.BENCH_IMPORT_RECORDS ?? 100_000)
const SERVICE_DID = 'did:web:bench-destination.test'

/** A did:plc whose signing key is `key`, registered with the PLC directory. */
async function registerDid(plcUrl: string, key: SigningKey, handle: string): Promise<string> {
  const rotation = await Secp256k1Keypair.create()
  const { did, op } = await plc.createOp({
    signingKey: key.did(),
    handle,
    pds: 'https://old-pds.example.com',
    rotationKeys: [rotation.did()],
    signer: rotation as never,
  })
  const res = await fetch(`${plcUrl}/${did}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(op) })
  if (!res.ok) throw new Error(`PLC: ${res.status} ${await res.text()}`)
  return did
}

/** The whole repo of `n` posts as a CAR, signed with `key`. */
function buildCar(did: string, key: SigningKey, n: number): Uint8Array {
  const blocks = new Map<string, Uint8Array>()
  const source = { getBytesSync: (cid: string) => blocks.get(cid) ?? null }
  const edit = new MstEdit(source, MstNode.empty())
  const start = Date.now() - n * 1000
  for (let i = 0; i < n; i++) {
    const createdAt = new Date(start + i * 1000).toISOString()
    const { bytes, cid } = encodeRecord({ $type: 'app.bsky.feed.post', text: `imported post number ${i}, written before the move`, langs: ['en'], createdAt })
    blocks.set(cidToString(cid), bytes)
    edit.put(`app.bsky.feed.post/${TID.fromTime((start + i * 1000) * 1000, i % 1024).toString()}`, cid)
  }
  const { root, newBlocks } = edit.finish()
  for (const [cid, bytes] of newBlocks) blocks.set(cid, bytes)
  const { bytes, cid } = signCommit(key, { did, rev: TID.nextStr(), data: root.cid as Cid })
  blocks.set(cidToString(cid), bytes)
  return encodeCar(cid, blocks)
}

type Run = { seconds: number; idleRssMb: number; peakRssMb: number; longestHealthWaitMs: number }

async function runOnce(plcUrl: string, key: SigningKey, did: string, car: Uint8Array): Promise<Run> {
  const server = await startBenchServer({
    PDS_DID_PLC_URL: plcUrl,
    PDS_SERVICE_DID: SERVICE_DID,
    PDS_MAX_REPO_IMPORT_SIZE: String(car.length + 1024),
  })
  try {
    const token = await createServiceJwt({ iss: did, aud: SERVICE_DID, lxm: 'com.atproto.server.createAccount', keypair: key })
    const created = await request(`${server.url}/xrpc/com.atproto.server.createAccount`, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ did, handle: 'mover.test', email: 'mover@bench.test', password: 'bench-password-123' }),
    })
    if (created.status !== 200) throw new Error(`createAccount: ${created.status} ${created.body}`)
    const { accessJwt } = JSON.parse(created.body.toString()) as { accessJwt: string }
    await new Promise((r) => setTimeout(r, 500))
    const idle = server.rss().currentMb
    let peak = idle
    const sampler = setInterval(() => (peak = Math.max(peak, server.rss().currentMb)), 5)
    let probing = true
    let longestWait = 0
    const prober = (async () => {
      while (probing) {
        const t = performance.now()
        await request(`${server.url}/xrpc/_health`)
        longestWait = Math.max(longestWait, performance.now() - t)
        await new Promise((r) => setTimeout(r, 10))
      }
    })()
    const start = performance.now()
    const res = await request(`${server.url}/xrpc/com.atproto.repo.importRepo`, {
      headers: { 'content-type': 'application/vnd.ipld.car', authorization: `Bearer ${accessJwt}` },
      body: Buffer.from(car.buffer, car.byteOffset, car.byteLength),
    })
    const seconds = (performance.now() - start) / 1000
    probing = false
    await prober
    clearInterval(sampler)
    peak = Math.max(peak, server.rss().currentMb)
    if (res.status !== 200) throw new Error(`importRepo: ${res.status} ${res.body}`)
    const status = await request(`${server.url}/xrpc/com.atproto.server.checkAccountStatus`, { headers: { authorization: `Bearer ${accessJwt}` } })
    const records = (JSON.parse(status.body.toString()) as { indexedRecords: number }).indexedRecords
    if (records !== RECORDS) throw new Error(`imported ${records} records, expected ${RECORDS}`)
    return { seconds, idleRssMb: idle, peakRssMb: peak, longestHealthWaitMs: longestWait }
  } finally {
    await server.stop()
  }
}

export default async function main(): Promise<void> {
  const plcServer = await startPlc()
  try {
    const key = await SigningKey.generate()
    const did = await registerDid(plcServer.url, key, 'mover.test')
    const t = performance.now()
    const car = buildCar(did, key, RECORDS)
    console.log(`built a ${RECORDS}-record repo: ${(car.length / 1e6).toFixed(1)} MB CAR in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    const runs: Run[] = []
    for (let i = 0; i < RUNS; i++) {
      const run = await runOnce(plcServer.url, key, did, car)
      console.log(
        `run ${i + 1}: ${run.seconds.toFixed(2)} s, RSS ${run.idleRssMb.toFixed(0)} MB idle -> ${run.peakRssMb.toFixed(0)} MB peak, longest _health wait ${run.longestHealthWaitMs.toFixed(0)} ms`,
      )
      runs.push(run)
    }
    const figures = {
      records: RECORDS,
      carMb: Number((car.length / 1e6).toFixed(1)),
      importSeconds: Number(median(runs.map((r) => r.seconds)).toFixed(2)),
      recordsPerSecond: Math.round(RECORDS / median(runs.map((r) => r.seconds))),
      idleRssMb: Math.round(median(runs.map((r) => r.idleRssMb))),
      peakRssMb: Math.round(median(runs.map((r) => r.peakRssMb))),
      longestHealthWaitMs: Math.round(median(runs.map((r) => r.longestHealthWaitMs))),
      runs: RUNS,
    }
    console.log('\n| figure | median |\n| --- | --- |')
    for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${v} |`)
    console.log(JSON.stringify({ bench: 'migrate', ...figures }))
  } finally {
    await plcServer.close()
  }
}
