import { statSync } from 'node:fs'
import { TID } from '@atproto/common'
import { startNetwork } from '../tests/_harness.ts'
const net = await startNetwork()
const { agent, did } = await net.createAccount()
for (let b = 0; b < 500; b++) {
  await agent.com.atproto.repo.applyWrites({ repo: did, writes: Array.from({ length: 200 }, (_, i) => ({
    $type: 'com.atproto.repo.applyWrites#create', collection: 'app.carrel.bench.book', rkey: TID.nextStr(),
    value: { $type: 'app.carrel.bench.book', title: `Book number ${b} ${i}`, authors: ['Some Author', 'Another Author'], shelf: 'bench', createdAt: new Date().toISOString() } })) })
}
const wal = () => { try { return (statSync(net.pds.cfg.dbPath + '-wal').size / 1e6).toFixed(1) } catch { return '-' } }
console.log('db MB', (statSync(net.pds.cfg.dbPath).size / 1e6).toFixed(1), 'wal MB', wal())
const ex = net.pds.ctx.exporter
const run = async (label: string) => {
  const d: number[] = [], h: number[] = []
  for (let r = 0; r < 5; r++) {
    let t = performance.now()
    const { stream } = ex.exportRepo(did)
    for await (const c of stream) void c
    d.push(performance.now() - t)
    t = performance.now()
    const res = await fetch(`${net.url}/xrpc/com.atproto.sync.getRepo?did=${did}`)
    const reader = res.body!.getReader()
    for (;;) { const { done } = await reader.read(); if (done) break }
    h.push(performance.now() - t)
  }
  d.sort((a,b)=>a-b); h.sort((a,b)=>a-b)
  console.log(label, 'direct', d[2].toFixed(1), 'min', d[0].toFixed(1), 'http', h[2].toFixed(1), 'min', h[0].toFixed(1), 'wal MB', wal())
}
net.pds.ctx.db.sqlite.pragma('wal_checkpoint(TRUNCATE)')
const { Session } = await import('node:inspector/promises')
const session = new Session(); session.connect()
await session.post('Profiler.enable'); await session.post('Profiler.start')
for (let r = 0; r < 5; r++) { const t = performance.now(); const { stream } = ex.exportRepo(did); for await (const c of stream) void c; console.log('direct', (performance.now() - t).toFixed(1)) }
const { profile } = await session.post('Profiler.stop')
const { writeFileSync, mkdirSync } = await import('node:fs'); mkdirSync('/tmp/prof', { recursive: true })
writeFileSync('/tmp/prof/zz.cpuprofile', JSON.stringify(profile))
await net.close()
