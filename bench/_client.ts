// A lean keep-alive HTTP client for benchmarks: undici's fetch costs the client about twice
// the CPU per request here, and on 2 cores the client's cost shows in the server's figures.
import http from 'node:http'

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

export type HttpResult = { status: number; body: Buffer }

export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body)
    const req = http.request(
      {
        host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? (body ? 'POST' : 'GET'),
        agent,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

export async function xrpcPost(base: string, nsid: string, token: string, input: unknown): Promise<any> {
  const res = await request(`${base}/xrpc/${nsid}`, {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(input),
  })
  if (res.status !== 200) throw new Error(`${nsid}: ${res.status} ${res.body.toString()}`)
  return JSON.parse(res.body.toString())
}

export async function xrpcGet(base: string, nsid: string, params: Record<string, string>): Promise<HttpResult> {
  const res = await request(`${base}/xrpc/${nsid}?${new URLSearchParams(params)}`)
  if (res.status !== 200) throw new Error(`${nsid}: ${res.status} ${res.body.toString()}`)
  return res
}
