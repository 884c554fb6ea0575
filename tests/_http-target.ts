// An HTTP server on 127.0.0.1 standing in for a host that a client named: it counts every TCP
// connection it accepts and every connection that carried a request (open now, most open at
// once), and records every request.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type HttpTarget = {
  port: number
  /** http://127.0.0.1:<port> */
  url: string
  /** TCP connections accepted so far, whether or not a request followed */
  connections: number
  /** connections that carried a request and are still open; the most at once */
  serving: number
  maxServing: number
  requests: { url: string; headers: IncomingMessage['headers'] }[]
  /**
   * true once every connection that carried a request is closed (the client hung up), false
   * if one is still open after `withinMs` (a generous bound: closing takes a few ms)
   */
  hungUp(withinMs?: number): Promise<boolean>
  close(): Promise<void>
}

export async function startHttpTarget(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<HttpTarget> {
  let waiters: (() => void)[] = []
  const serving = new Set<Socket>()
  const server = createServer((req, res) => {
    target.requests.push({ url: req.url ?? '', headers: req.headers })
    if (!serving.has(req.socket)) {
      serving.add(req.socket)
      target.serving = serving.size
      target.maxServing = Math.max(target.maxServing, serving.size)
    }
    handler(req, res)
  })
  // long enough that only the client can be the one closing an idle connection
  server.keepAliveTimeout = 10 * 60_000
  server.on('connection', (socket: Socket) => {
    target.connections++
    socket.on('close', () => {
      if (!serving.delete(socket)) return
      target.serving = serving.size
      if (serving.size === 0) {
        for (const w of waiters) w()
        waiters = []
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const target: HttpTarget = {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: 0,
    serving: 0,
    maxServing: 0,
    requests: [],
    hungUp: (withinMs = 2000) =>
      serving.size === 0
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), withinMs)
            waiters.push(() => {
              clearTimeout(timer)
              resolve(true)
            })
          }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
  return target
}
