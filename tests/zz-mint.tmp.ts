import { ServiceTokenMint } from '../src/auth/service-token-mint.ts'
import { SigningKey } from '../src/repo/signing-key.ts'
import { signServiceJwt } from '../src/auth/service-auth.ts'
const key = await SigningKey.generate()
const req = { iss: 'did:plc:abcdefghijklmnopqrstuvwx', aud: 'did:web:api.bsky.app', lxm: 'app.bsky.feed.getTimeline' }
const N = 20000
// inline
let c0 = process.cpuUsage(); let t0 = performance.now()
for (let i = 0; i < N; i++) signServiceJwt({ ...req, key })
let c = process.cpuUsage(c0); console.log('inline us/token cpu', ((c.user + c.system) / N).toFixed(1), 'wall', ((performance.now() - t0) * 1000 / N).toFixed(1))
// mint, paced: 16 tokens per macrotask turn
const mint = new ServiceTokenMint()
for (let i = 0; i < 2000; i++) { mint.token(req, key as any); if (i % 16 === 0) await new Promise((r) => setImmediate(r)) }
c0 = process.cpuUsage(); t0 = performance.now()
for (let i = 0; i < N; i++) { mint.token(req, key as any); if (i % 16 === 0) await new Promise((r) => setTimeout(r, 1)) }
c = process.cpuUsage(c0); console.log('mint us/token cpu', ((c.user + c.system) / N).toFixed(1), mint.counts())
await mint.close()
