import { startNetwork } from './_harness.ts'
const net = await startNetwork({LOG_LEVEL: 'error'})
try {
  const { agent, did } = await net.createAccount()
  const h = await agent.com.atproto.sync.getLatestCommit({did})
  const res = await fetch(`${net.url}/xrpc/com.atproto.sync.getRepo?did=${did}&since=${h.data.rev}`)
  console.log(res.status, (await res.arrayBuffer()).byteLength)
} finally { await net.close() }
