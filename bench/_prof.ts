import { TID } from '@atproto/common'
import { startNetwork } from '../tests/_harness.ts'
const net = await startNetwork()
const { agent, did } = await net.createAccount()
for (let b = 0; b < 50; b++) {
  await agent.com.atproto.repo.applyWrites({ repo: did, writes: Array.from({ length: 200 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create', collection: 'app.carrel.bench.book', rkey: TID.nextStr(),
    value: { $type: 'app.carrel.bench.book', title: `Book ${b} ${i}`, authors: ['A', 'B'], createdAt: new Date().toISOString() } })) })
}
const db = net.pds.ctx.db.sqlite
const q = (sql: string) => { const st = db.prepare(sql).raw(true); const ts = []; for (let r = 0; r < 7; r++) { const t = performance.now(); st.all(did); ts.push(performance.now() - t) } ts.sort((a,b)=>a-b); console.log(ts[3].toFixed(1), sql) }
q('SELECT cid, content FROM repo_block WHERE did = ?')
q('SELECT content FROM repo_block WHERE did = ?')
q('SELECT cid FROM repo_block WHERE did = ?')
q('SELECT length(content) FROM repo_block WHERE did = ?')
const ex = net.pds.ctx.exporter
const ts = []
for (let r = 0; r < 9; r++) {
  const t = performance.now()
  const { stream } = ex.exportRepo(did)
  for await (const c of stream) void c
  ts.push(performance.now() - t)
}
ts.sort((a,b)=>a-b); console.log('export median', ts[4].toFixed(1))
await net.close()
