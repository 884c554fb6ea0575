// The floor for bench/proxy: the least a Node proxy can do per call under the rules, in
// its own process as Carrel is. Each call gets a fresh ES256K service-auth token (libsecp256k1,
// SHA-256, signed 32 at a time on this thread: the cheapest way measured here) and is forwarded to
// the upstream over keep-alive connections; status, content-type, content-length and
// atproto-repo-rev come back, the body piped. Nothing else: no auth check of the caller, no SSRF
// rules, timeouts, body limits, read-after-write or error mapping. Started by bench/proxy.ts with
// the upstream's URL; sends its port to the parent and exits when told to.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import secp256k1 from 'secp256k1'

const upstream = new URL(process.argv[2])
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const key = randomBytes(32)
const HEADER = Buffer.from('{"typ":"JWT","alg":"ES256K"}').toString('base64url')
const ready = []

function signed(lxm) {
  const iat = Math.floor(Date.now() / 1000)
  const claims = { iat, iss: 'did:plc:floorbenchaccount0000000', aud: 'did:web:appview.bench.test', exp: iat + 60, lxm, jti: randomUUID() }
  const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  const sig = secp256k1.ecdsaSign(createHash('sha256').update(input).digest(), key).signature
  return `${input}.${Buffer.from(sig).toString('base64url')}`
}

function token(lxm) {
  if (ready.length === 0) for (let i = 0; i < 32; i++) ready.push(signed(lxm))
  return ready.pop()
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?')
  const lxm = req.url.slice('/xrpc/'.length, q === -1 ? undefined : q)
  const out = http.request(
    { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent, headers: { authorization: `Bearer ${token(lxm)}` } },
    (answer) => {
      const headers = { 'content-type': answer.headers['content-type'] }
      if (answer.headers['content-length'] !== undefined) headers['content-length'] = answer.headers['content-length']
      if (answer.headers['atproto-repo-rev'] !== undefined) headers['atproto-repo-rev'] = answer.headers['atproto-repo-rev']
      res.writeHead(answer.statusCode, headers)
      answer.pipe(res)
    },
  )
  out.on('error', () => res.destroy())
  req.resume()
  out.end()
})
server.keepAliveTimeout = 10_000
server.listen(0, '127.0.0.1', () => process.send(server.address().port))
process.on('message', (msg) => msg === 'exit' && process.exit(0))
