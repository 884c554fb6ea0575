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
const N = Number(process.env.N ?? 1000)
const t0 = performance.now()
for (let i = 0; i < N; i++) {
  const w = prepareRecordWrite(ctx.lexicons, { did, action: 'create', collection: 'app.bsky.feed.post', rkey: TID.nextStr(), record: { $type: 'app.bsky.feed.post', text: 'hello ' + i, createdAt: new Date().toISOString() }, validate: undefined })
  await ctx.repo.commit(did, [w])
}
console.log('ms/commit', ((performance.now() - t0) / N).toFixed(3))
await ctx.close()
