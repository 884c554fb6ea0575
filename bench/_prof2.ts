import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { cidForCborBytes } from '../src/repo/cid.ts'
import { RepoExporter } from '../src/repo/car-export.ts'
import { readCarWithRoot } from '@atproto/repo'
const N = Number(process.argv[2] ?? 12700)
const db = new Database('/tmp/carrel-prof.sqlite')
db.pragma('journal_mode = WAL')
db.exec(`DROP TABLE IF EXISTS repo_block; DROP TABLE IF EXISTS repo_root; CREATE TABLE repo_root (did TEXT PRIMARY KEY, cid TEXT, rev TEXT, data_cid TEXT, updated_at TEXT); CREATE TABLE repo_block (did TEXT NOT NULL, cid TEXT NOT NULL, rev TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL, PRIMARY KEY (did, cid)) WITHOUT ROWID; CREATE INDEX repo_block_rev_idx ON repo_block (did, rev, cid)`)
const did = 'did:plc:abcdefghijklmnopqrstuvwx'
const ins = db.prepare('INSERT INTO repo_block VALUES (?, ?, ?, ?, ?)')
let root = ''
db.transaction(() => { for (let i = 0; i < N; i++) { const c = randomBytes(i % 4 === 0 ? 600 : 130); const cid = cidForCborBytes(c).toString(); if (i === 0) root = cid; ins.run(did, cid, i < N/2 ? '3abc' : '3abd', c.length, c) } })()
db.prepare('INSERT INTO repo_root VALUES (?, ?, ?, ?, ?)').run(did, root, '3abd', root, 'x')
const ex = new RepoExporter('/tmp/carrel-prof.sqlite')
for (const since of [undefined, '3abc']) {
  const ts = []
  let bytes = 0
  let last: Buffer[] = []
  for (let r = 0; r < 11; r++) {
    const t = performance.now()
    const chunks: Buffer[] = []
    const { stream } = ex.exportRepo(did, since)
    for await (const c of stream) chunks.push(c)
    ts.push(performance.now() - t)
    last = chunks
  }
  const car = Buffer.concat(last)
  const { blocks } = await readCarWithRoot(car)
  ts.sort((a, b) => a - b)
  console.log(since ?? 'full', 'median ms', ts[5].toFixed(1), 'bytes', car.length, 'blocks', blocks.size)
}
