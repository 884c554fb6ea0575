// npm run bench -- takedowns: what the record and blob takedown checks (src/accounts/status.ts,
// src/accounts/takedown-store.ts) add to every getRecord, listRecords and getBlob, in-process:
// microseconds per check for a repo with no takedown (the common case: a set lookup), for a repo
// with some (one primary-key query), and the same query without the set in front of it. The
// database holds BENCH_TAKEDOWNS (default 10000) record and blob takedowns spread over 1000 other
// DIDs. Each figure is the median of RUNS runs of BENCH_ITERATIONS checks, after as many of warm-up.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { assertBlobServed, assertRecordServed, servedRecordFilter } from '../src/accounts/status.ts'
import { TakedownStore } from '../src/accounts/takedown-store.ts'
import { migrateToLatest, openDatabase } from '../src/db/index.ts'
import { microsPerCall } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 50000)
const TAKEDOWNS = Number(process.env.BENCH_TAKEDOWNS ?? 10000)

const CLEAN_DID = 'did:plc:cleancleancleancleanclean'
const HIT_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const CID = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const COLLECTION = 'app.bsky.feed.post'

const perCall = (fn: () => void) => microsPerCall(fn, RUNS, ITERATIONS)

export default async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-bench-takedowns-'))
  const db = openDatabase(join(dir, 'carrel.sqlite'))
  try {
    await migrateToLatest(db)
    const seed = new TakedownStore(db)
    db.sqlite.transaction(() => {
      for (let i = 0; i < TAKEDOWNS; i++) {
        const did = i % 1000 === 0 ? HIT_DID : `did:plc:other${String(i % 1000).padStart(17, '0')}`
        seed.takeDownRecord(did, COLLECTION, `3k${String(i).padStart(11, '0')}`, CID, 'bench')
        seed.takeDownBlob(did, `${CID.slice(0, -8)}${String(i).padStart(8, '0')}`, 'bench')
      }
    })()
    // a fresh store, as after a restart: the sets are read from the tables
    const store = new TakedownStore(db)
    const rawRecord = db.sqlite.prepare('SELECT cid, ref, created_at FROM record_takedown WHERE did = ? AND collection = ? AND rkey = ?')
    const rkey = '3jzfcijpj2z2a'
    const rows = [
      { check: 'getRecord, repo with no takedown', us: perCall(() => assertRecordServed(store, CLEAN_DID, COLLECTION, rkey)) },
      { check: 'getRecord, repo with takedowns', us: perCall(() => assertRecordServed(store, HIT_DID, COLLECTION, rkey)) },
      { check: 'the query alone (no set in front)', us: perCall(() => rawRecord.get(CLEAN_DID, COLLECTION, rkey)) },
      { check: 'getBlob, repo with no takedown', us: perCall(() => assertBlobServed(store, CLEAN_DID, CID)) },
      { check: 'getBlob, repo with takedowns', us: perCall(() => assertBlobServed(store, HIT_DID, CID)) },
      { check: 'listRecords filter, no takedown', us: perCall(() => servedRecordFilter(store, CLEAN_DID)) },
      { check: 'listRecords filter, with takedowns', us: perCall(() => servedRecordFilter(store, HIT_DID)) },
    ]
    console.log(`takedowns: µs per check, median of ${RUNS} runs of ${ITERATIONS}; ${TAKEDOWNS} record and blob takedowns stored`)
    for (const r of rows) console.log(`${r.check.padEnd(36)} ${r.us.toFixed(3).padStart(8)}`)
    console.log(JSON.stringify({ bench: 'takedowns', runs: RUNS, iterations: ITERATIONS, takedowns: TAKEDOWNS, rows }))
  } finally {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
