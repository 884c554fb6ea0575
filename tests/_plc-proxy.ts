// A proxy in front of the test's PLC directory, for tests that must hold requests back (to line
// up a race) or have the directory fail. Everything else passes through unchanged.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export type PlcProxy = {
  /** http://127.0.0.1:<port>: give it to the server as PDS_DID_PLC_URL */
  url: string
  /** where requests go; set once the PLC directory runs */
  target: string
  /** awaited before a request is passed on (null: pass everything on at once) */
  hold: ((req: { method: string; path: string }) => Promise<void>) | null
  /** answer every request with this status instead of passing it on (null: pass on) */
  failWith: number | null
  /** requests seen, in order */
  seen: { method: string; path: string }[]
  close(): Promise<void>
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export async function startPlcProxy(): Promise<PlcProxy> {
  const server = createServer(async (req, res) => {
    const seen = { method: req.method ?? 'GET', path: req.url ?? '/' }
    proxy.seen.push(seen)
    try {
      const body = await bodyOf(req)
      if (proxy.hold) await proxy.hold(seen)
      if (proxy.failWith !== null) {
        res.writeHead(proxy.failWith, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ message: 'the directory is failing (test)' }))
        return
      }
      const answer = await fetch(proxy.target + seen.path, {
        method: seen.method,
        headers: req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {},
        body: seen.method === 'GET' || seen.method === 'HEAD' ? undefined : body,
      })
      const bytes = Buffer.from(await answer.arrayBuffer())
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' })
      res.end(bytes)
    } catch (err) {
      res.writeHead(500)
      res.end(String(err))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxy: PlcProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    target: '',
    hold: null,
    failWith: null,
    seen: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return proxy
}
