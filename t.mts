import { startNetwork } from './tests/_harness.ts'
import { xrpcPost } from './bench/_client.ts'
const net = await startNetwork()
const mem = (n: string) => { const m = process.memoryUsage(); console.log(n, Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1e6)]))) }
mem('start')
const accts = await Promise.all([0, 1, 2, 3].map((i) => net.createAccount('mem' + i)))
let c = 0
await Promise.all(accts.flatMap((a) => Array.from({ length: 4 }, async () => {
  for (let i = 0; i < 150; i++) await xrpcPost(net.url, 'com.atproto.repo.createRecord', a.agent.session!.accessJwt, { repo: a.did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'x' + c++, createdAt: new Date().toISOString() } })
})))
mem('after concurrent')
global.gc?.()
mem('after gc')
await net.close()
