import { loadConfig } from './src/config.ts'
import { createContext } from './src/context.ts'
import { SigningKey } from './src/repo/signing-key.ts'
import { prepareRecordWrite } from './src/repo/prepare.ts'
import { TID } from '@atproto/common'
import { rmSync } from 'node:fs'
rmSync('/tmp/smoke', { recursive: true, force: true })
const cfg = await loadConfig({ PDS_DATA_DIRECTORY: '/tmp/smoke', PDS_DID_PLC_URL: 'http://x', LOG_LEVEL: 'silent' })
const ctx = await createContext(cfg)
const did = 'did:plc:abcdefghijklmnopqrstuvwx'
const key = await SigningKey.generate()
await ctx.repo.createRepo(did, key, () => {
  ctx.accounts.insert({ did, handle: 'a.test', email: 'a@a.test', password_hash: 'x', signing_key: Buffer.from(key.exportPrivateKey()), created_at: new Date().toISOString() })
})
const B = Number(process.env.B ?? 30)
let tPrep = 0
const t0 = performance.now()
for (let b = 0; b < B; b++) {
  const a = performance.now()
  const ws = Array.from({ length: 200 }, (_, i) => prepareRecordWrite(ctx.lexicons, { did, action: 'create', collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.post', text: 'hello ' + i, createdAt: new Date().toISOString() }, validate: undefined }))
  tPrep += performance.now() - a
  await ctx.repo.commit(did, ws)
}
const total = performance.now() - t0
console.log('records/s', (B * 200 / (total / 1000)).toFixed(0), 'prep ms/batch', (tPrep / B).toFixed(1), 'ms/batch', (total / B).toFixed(1))
await ctx.close()
