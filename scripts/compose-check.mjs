#!/usr/bin/env node
// Brings compose.yaml up for real with podman-compose, Caddy in front of Carrel with `tls
// internal` (Caddy's own CA: no ACME server is needed), and checks through Caddy over HTTPS, as
// a client elsewhere would reach the server: the health check and the landing page on the
// hostname, a handle subdomain whose certificate Caddy obtains on demand once Carrel's
// /tls-check says yes, a made-up subdomain that gets no certificate, the firehose over wss
// seeing a write, and a stop (SIGTERM) that drains and closes cleanly. Prints PASS or FAIL for
// each check and at the end (exit code 0 or 1).
//
//   node scripts/compose-check.mjs [--keep] [--rebuild]
//
// Needs podman, podman-compose and root (rootful podman), and the images: localhost/carrel:latest
// is built from the Dockerfile when missing (`--rebuild` builds it again; its base,
// node:22-bookworm-slim, must be in podman's storage), and Caddy is docker.io/library/caddy:2 when
// present, else an image made from Debian's caddy package (deploy/caddy-debian.Containerfile).
// It runs as its own compose project (carrel-check) on free ports and removes it afterwards
// (`--keep` leaves it running). Not part of `npm test`: CI has no podman.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { request } from 'node:https'
import { createServer } from 'node:net'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeAll } from '@atproto/lex-cbor'
import { WebSocket } from 'ws'

const root = join(import.meta.dirname, '..')
const args = new Set(process.argv.slice(2))
const PROJECT = 'carrel-check'
const HOSTNAME = 'pds.carrel.test'
const CARREL_IMAGE = 'localhost/carrel:latest'
const NODE_BASE = 'docker.io/library/node:22-bookworm-slim'
const CONTAINER = { carrel: `${PROJECT}_carrel_1`, caddy: `${PROJECT}_caddy_1` }

const say = (msg) => process.stderr.write(`[compose-check] ${msg}\n`)
const results = []
function record(name, ok, detail = '') {
  results.push({ name, ok })
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}\n`)
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: root, ...opts })
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${(r.stderr || r.stdout || '').slice(-3000)}`)
  }
  return r
}

const imageExists = (ref) => spawnSync('podman', ['image', 'exists', ref]).status === 0

function freePort() {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** A global npmrc for the build's `npm ci`: this host's registry, proxy and CA file. */
function npmConfigDir(dir) {
  const get = (key) => {
    const v = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout.trim()
    return v === '' || v === 'null' || v === 'undefined' ? undefined : v
  }
  const lines = ['update-notifier=false', 'fund=false']
  for (const key of ['registry', 'proxy', 'https-proxy', 'noproxy', 'strict-ssl']) {
    const v = get(key)
    if (v) lines.push(`${key}=${v}`)
  }
  const ca = get('cafile') ?? process.env.NODE_EXTRA_CA_CERTS
  if (ca && existsSync(ca)) {
    execFileSync('cp', [ca, join(dir, 'build-ca.pem')])
    lines.push('cafile=/usr/local/etc/build-ca.pem')
  }
  writeFileSync(join(dir, 'npmrc'), lines.join('\n') + '\n')
  return dir
}

function buildImages(work) {
  if (args.has('--rebuild') || !imageExists(CARREL_IMAGE)) {
    if (!imageExists(NODE_BASE)) throw new Error(`${NODE_BASE} is not in podman's storage; pull it (or make it) first`)
    say(`building ${CARREL_IMAGE} from the Dockerfile`)
    const npmetc = npmConfigDir(mkdtempSync(join(work, 'npmetc-')))
    run('podman', ['build', '--pull=never', '--network', 'host', '-v', `${npmetc}:/usr/local/etc:ro`, '-t', CARREL_IMAGE, '.'])
  }
  if (process.env.CADDY_IMAGE) return process.env.CADDY_IMAGE
  if (imageExists('docker.io/library/caddy:2')) return 'docker.io/library/caddy:2'
  const local = 'localhost/carrel-caddy:debian'
  if (!imageExists(local)) {
    say(`building ${local} from Debian's caddy package`)
    run('podman', ['build', '--pull=never', '--network', 'host', '--build-arg', `BASE=${NODE_BASE}`, '-f', 'deploy/caddy-debian.Containerfile', '-t', local, 'deploy'])
  }
  return local
}

/**
 * Resource limits a container may ask for here: podman lowers its own RLIMIT_NPROC to 32768 and
 * cannot raise RLIMIT_NOFILE, while the runtime's defaults ask for more (EPERM at start).
 */
function ulimitArgs() {
  // bash: dash's ulimit has no -u
  const [nofile, nproc] = spawnSync('bash', ['-c', 'ulimit -Hn; ulimit -Hu'], { encoding: 'utf8' }).stdout.trim().split('\n')
  const files = nofile === 'unlimited' ? 1048576 : Number(nofile)
  const procs = nproc === 'unlimited' ? 32768 : Math.min(Number(nproc), 32768)
  return `--ulimit nofile=${files}:${files} --ulimit nproc=${procs}:${procs}`
}

function compose(env, argv, opts = {}) {
  return run('podman-compose', ['-p', PROJECT, '--podman-run-args', ulimitArgs(), ...argv], { env: { ...process.env, ...env }, ...opts })
}

async function until(what, fn, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`${what}: gave up after ${timeoutMs} ms${last ? ` (${last.message})` : ''}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** HTTPS through Caddy on 127.0.0.1, for `name` (SNI and Host), verified against Caddy's CA. */
function https(port, ca, name, path, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: name,
        ca,
        method,
        path,
        headers: { host: `${name}:${port}`, ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        // read now: the socket is detached from the response once it ends
        const cert = res.socket?.getPeerCertificate?.()
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => {
          let json
          try {
            json = JSON.parse(text)
          } catch {}
          resolve({ status: res.statusCode, headers: res.headers, text, json, cert })
        })
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** A TLS handshake for `name`: the certificate's subject names, or the handshake's error. */
function handshake(port, name, ca) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername: name, ca, rejectUnauthorized: ca !== undefined })
    s.once('secureConnect', () => {
      const san = s.getPeerCertificate().subjectaltname ?? ''
      s.end()
      resolve({ ok: true, san })
    })
    s.once('error', (err) => resolve({ ok: false, error: err.message.trim() }))
  })
}

async function main() {
  for (const tool of ['podman', 'podman-compose']) {
    if (spawnSync(tool, ['--version']).status !== 0) throw new Error(`${tool} is not installed (Debian: apt-get install -y podman podman-compose)`)
  }
  const work = mkdtempSync(join(tmpdir(), 'carrel-compose-check-'))
  const caddyImage = buildImages(work)
  const [httpsPort, httpPort, carrelPort] = [await freePort(), await freePort(), await freePort()]
  const envFile = join(work, 'pds.env')
  writeFileSync(envFile, [`PDS_HOSTNAME=${HOSTNAME}`, 'LOG_LEVEL=info', ''].join('\n'))
  const env = {
    CARREL_ENV_FILE: envFile,
    CARREL_HTTP_PORT: String(carrelPort),
    CADDY_IMAGE: caddyImage,
    CADDY_TLS_ISSUER: 'internal',
    CADDY_HTTPS_PORT: String(httpsPort),
    CADDY_HTTP_PORT: String(httpPort),
  }
  say(`compose project ${PROJECT}: Carrel on 127.0.0.1:${carrelPort}, Caddy (${caddyImage}) on :${httpsPort} and :${httpPort}`)
  compose(env, ['down', '-v'], { allowFail: true })
  try {
    compose(env, ['up', '-d', '--no-build', 'carrel', 'caddy'])
    await checks(env, { httpsPort, httpPort, carrelPort })
  } catch (err) {
    record('the checks ran to the end', false, err.message)
  } finally {
    if (args.has('--keep')) say(`left running: podman-compose -p ${PROJECT} down -v   removes it`)
    else compose(env, ['down', '-v'], { allowFail: true })
    rmSync(work, { recursive: true, force: true })
  }
  const failed = results.filter((r) => !r.ok).length
  process.stdout.write(`${failed === 0 ? 'PASS' : 'FAIL'}  ${results.length - failed} of ${results.length} checks passed\n`)
  process.exit(failed === 0 ? 0 : 1)
}

async function checks(env, { httpsPort, httpPort, carrelPort }) {
  await until('Carrel answers /xrpc/_health on 127.0.0.1', async () => (await fetch(`http://127.0.0.1:${carrelPort}/xrpc/_health`)).ok)
  record('Carrel is up, its port published on 127.0.0.1 only', true)

  // the first handshake for the hostname makes Caddy ask /tls-check and issue from its own CA
  await until('Caddy completes a TLS handshake for the hostname', async () => (await handshake(httpsPort, HOSTNAME)).ok)
  const ca = execFileSync('podman', ['exec', CONTAINER.caddy, 'cat', '/data/caddy/pki/authorities/local/root.crt'], { encoding: 'utf8' })

  const health = await https(httpsPort, ca, HOSTNAME, '/xrpc/_health')
  record('GET https://<hostname>/xrpc/_health through Caddy', health.status === 200 && typeof health.json?.version === 'string', `${health.status} ${health.text.trim()}`)
  const page = await https(httpsPort, ca, HOSTNAME, '/')
  record('the landing page through Caddy', page.status === 200 && page.text.includes('Personal Data Server'), `${page.status}`)

  // node:http, not fetch: fetch sends its own Host header
  const redirect = await new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port: httpPort, path: '/xrpc/_health', headers: { host: HOSTNAME } }, (res) => {
      res.resume()
      resolve({ status: res.statusCode, location: res.headers.location })
    }).on('error', reject)
  })
  record('plain HTTP is redirected to HTTPS', redirect.status === 301 && redirect.location === `https://${HOSTNAME}/xrpc/_health`, `${redirect.status} ${redirect.location}`)

  const handle = `alice.${HOSTNAME}`
  const created = await https(httpsPort, ca, HOSTNAME, '/xrpc/com.atproto.server.createAccount', {
    method: 'POST',
    body: { handle, email: 'alice@example.com', password: 'compose-check password 1' },
  })
  record('createAccount through Caddy', created.status === 200 && created.json?.did?.startsWith('did:plc:'), `${created.status} ${created.json?.did ?? created.text}`)
  const { did, accessJwt } = created.json ?? {}

  // a handle subdomain: its own certificate, obtained on demand once /tls-check said yes
  const wellKnown = await until('a certificate for the handle', () => https(httpsPort, ca, handle, '/.well-known/atproto-did').catch(() => undefined), 30_000)
  record(
    'https://<handle>/.well-known/atproto-did through Caddy, with a certificate for the handle',
    wellKnown.status === 200 && wellKnown.text.trim() === did && String(wellKnown.cert?.subjectaltname).includes(`DNS:${handle}`),
    `${wellKnown.status} ${wellKnown.text.trim()} (${wellKnown.cert?.subjectaltname})`,
  )
  const stranger = await handshake(httpsPort, `nobody.${HOSTNAME}`, ca)
  record('a subdomain no account holds gets no certificate', !stranger.ok, stranger.ok ? `got ${stranger.san}` : stranger.error)
  const foreign = await handshake(httpsPort, 'example.com', ca)
  record('a foreign name gets no certificate', !foreign.ok, foreign.ok ? `got ${foreign.san}` : foreign.error)

  // the firehose over wss through Caddy sees a write made through Caddy
  const ws = new WebSocket(`wss://${HOSTNAME}:${httpsPort}/xrpc/com.atproto.sync.subscribeRepos`, {
    ca,
    servername: HOSTNAME,
    lookup: (_host, opts, cb) => (opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)),
  })
  const frames = []
  ws.on('message', (data) => frames.push([...decodeAll(new Uint8Array(data))]))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const written = await https(httpsPort, ca, HOSTNAME, '/xrpc/com.atproto.repo.createRecord', {
    method: 'POST',
    headers: { authorization: `Bearer ${accessJwt}` },
    body: { repo: did, collection: 'com.example.compose', record: { $type: 'com.example.compose', text: 'through Caddy' } },
  })
  const commit = await until(
    'a #commit frame for the write',
    () => frames.find(([header, body]) => header?.t === '#commit' && body?.repo === did && body?.rev === written.json?.commit?.rev),
    15_000,
  ).catch((err) => (record('the firehose over wss through Caddy sees a write', false, err.message), undefined))
  if (commit) record('the firehose over wss through Caddy sees a write', written.status === 200, `#commit seq ${commit[1].seq} rev ${commit[1].rev}`)

  // stop: SIGTERM, drain, SQLite closed, exit 0; the subscriber gets a close frame
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)))
  run('podman', ['stop', '-t', '20', CONTAINER.carrel])
  const code = await Promise.race([closed, new Promise((r) => setTimeout(() => r('no close'), 5_000))])
  const exit = run('podman', ['inspect', '-f', '{{.State.ExitCode}}', CONTAINER.carrel]).stdout.trim()
  const logs = run('podman', ['logs', CONTAINER.carrel]).stdout + run('podman', ['logs', CONTAINER.carrel]).stderr
  const stopped = logs.split('\n').find((l) => l.includes('"msg":"stopped"'))
  record('podman stop: drained, closed, exit code 0', exit === '0' && stopped?.includes('"drained":true'), `exit ${exit}; ${stopped ?? 'no "stopped" line'}`)
  record('the firehose subscriber got a close frame through Caddy (1001, going away)', code === 1001, `close code ${code}`)
}

main().catch((err) => {
  process.stdout.write(`FAIL  ${err.message}\n`)
  process.exit(1)
})
