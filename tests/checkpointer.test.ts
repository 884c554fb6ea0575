// The WAL checkpointer (src/db/checkpoint-worker.mjs) against a real database under a steady
// stream of commits: the WAL stays bounded (with PASSIVE checkpoints alone it grows for as long
// as the commits go on), no commit fails or waits long, and an idle WAL is truncated.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startCheckpointer } from '../src/db/checkpointer.ts'
import { openDatabase } from '../src/db/index.ts'
import { createLogger } from '../src/logger.ts'

const MB = 1024 * 1024

function walBytes(dbPath: string): number {
  try {
    return statSync(`${dbPath}-wal`).size
  } catch {
    return 0
  }
}

/**
 * Makes `count` small commits, in bursts of 10 with a timer tick between them (a busy server's
 * pace); the largest WAL file seen and the slowest commit. A count rather than a duration, so
 * that a slower machine writes the same WAL (and gives its checkpointer more time, not less).
 */
async function commitMany(db: ReturnType<typeof openDatabase>, dbPath: string, count: number) {
  const insert = db.sqlite.prepare('INSERT INTO t (k, v) VALUES (?, ?)')
  const payload = Buffer.alloc(3000, 7)
  let maxWal = 0
  let slowestMs = 0
  let commits = 0
  while (commits < count) {
    const t = performance.now()
    db.sqlite.transaction(() => {
      insert.run(`${commits}-${Math.random()}`, payload)
      insert.run(`${commits}-${Math.random()}`, payload)
    })()
    slowestMs = Math.max(slowestMs, performance.now() - t)
    commits++
    if (commits % 10 === 0) {
      maxWal = Math.max(maxWal, walBytes(dbPath))
      await new Promise((r) => setTimeout(r, 0))
    }
  }
  return { maxWal, slowestMs, commits }
}

async function withDatabase(fn: (db: ReturnType<typeof openDatabase>, dbPath: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-ckpt-'))
  const dbPath = join(dir, 'test.sqlite')
  const db = openDatabase(dbPath)
  db.sqlite.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL)')
  try {
    await fn(db, dbPath)
  } finally {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const logger = createLogger('silent')

test('under steady commits the WAL stays near its bound; PASSIVE alone lets it grow', async () => {
  let unboundedMax = 0
  await withDatabase(async (db, dbPath) => {
    const passiveOnly = startCheckpointer(dbPath, logger, { intervalMs: 20, restartBytes: Number.MAX_SAFE_INTEGER, idleTruncateMs: 60_000 })
    const unbounded = await commitMany(db, dbPath, 6000)
    await passiveOnly.stop()
    console.log(`[figure] PASSIVE only: WAL reached ${(unbounded.maxWal / MB).toFixed(1)} MB in ${unbounded.commits} commits`)
    assert.ok(unbounded.maxWal > 32 * MB, `without restarts the WAL reached ${(unbounded.maxWal / MB).toFixed(1)} MB in ${unbounded.commits} commits`)
    unboundedMax = unbounded.maxWal
  })
  await withDatabase(async (db, dbPath) => {
    const bounded = startCheckpointer(dbPath, logger, { intervalMs: 20, restartBytes: 2 * MB, idleTruncateMs: 60_000 })
    const run = await commitMany(db, dbPath, 6000)
    await bounded.stop()
    console.log(`[figure] bounded at 2 MB: WAL reached ${(run.maxWal / MB).toFixed(1)} MB in ${run.commits} commits, slowest commit ${run.slowestMs.toFixed(1)} ms`)
    // the first restart can come late (a round's fsync while the WAL is large); then it stays near 2 MB
    assert.ok(run.maxWal < 32 * MB && run.maxWal * 4 < unboundedMax, `with restarts the WAL reached ${(run.maxWal / MB).toFixed(1)} MB in ${run.commits} commits`)
    const rows = db.sqlite.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }
    assert.is(rows.n, run.commits * 2, 'every commit is there')
  })
})

test('an idle WAL is truncated; stopping leaves none behind', async () => {
  await withDatabase(async (db, dbPath) => {
    const checkpointer = startCheckpointer(dbPath, logger, { intervalMs: 20, restartBytes: 64 * MB, idleTruncateMs: 300 })
    await commitMany(db, dbPath, 500)
    assert.ok(walBytes(dbPath) > 0)
    const deadline = Date.now() + 5000
    while (walBytes(dbPath) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    assert.is(walBytes(dbPath), 0, 'truncated once idle')
    // and it is reused afterwards
    await commitMany(db, dbPath, 100)
    assert.ok(walBytes(dbPath) > 0)
    await checkpointer.stop()
    assert.is(walBytes(dbPath), 0, 'truncated on stop')
  })
})

test.run()
