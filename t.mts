import { startNetwork } from './tests/_harness.ts'
const net = await startNetwork()
const a = await net.createAccount('zed')
const r = await fetch(net.url + '/xrpc/com.atproto.repo.describeRepo?repo=' + a.did)
console.log(r.status, await r.text())
await net.close()
