// An operator moving from the reference PDS keeps their pds.env: Carrel starts on it unchanged
// (tests/fixtures/reference-pds.env: the file the reference's installer writes, its source noted
// there) and uses what it says: hostname, secrets, data and blob folders, blob limit, invites,
// crawlers. Only what cannot run here is replaced: /pds by a temporary folder (as the installer
// itself does for another data folder), the public PLC directory and relay by local stand-ins.
// The reference variables Carrel does not use are named in its start-up log, never their values.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Secp256k1Keypair } from '@atproto/crypto'
import { IGNORED_REFERENCE_VARIABLES, loadConfig } from '../src/config.ts'
import { basic } from './_admin.ts'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from './_server-process.ts'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'reference-pds.env')

/** KEY=VALUE lines, as docker's --env-file and compose's env_file read them */
function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    env[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return env
}

const reference = readEnvFile(FIXTURE)
let plc: Plc
let relay: Server
const crawlRequests: { path: string; body: string }[] = []
let dataDir: string
let port: number
let url: string
let server: ServerProcess

test.before(async () => {
  plc = await startPlc()
  relay = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      crawlRequests.push({ path: req.url ?? '', body })
      res.setHeader('content-type', 'application/json')
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()))
  dataDir = mkdtempSync(join(tmpdir(), 'carrel-refenv-'))
  port = await freePort()
  url = `http://localhost:${port}`
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(reference)) env[key] = value.replace(/^\/pds(?=\/|$)/, dataDir)
  env.PDS_DID_PLC_URL = plc.url
  env.PDS_CRAWLERS = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
  // what the reference's image sets beside the file (its port; production)
  env.PDS_PORT = String(port)
  env.NODE_ENV = 'production'
  server = await startServerProcess(port, env, { capture: true })
})

test.after(async () => {
  if (server) await stopServerProcess(server)
  await new Promise((resolve) => relay.close(resolve))
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function xrpc(method: string, nsid: string, opts: { body?: unknown; raw?: Uint8Array; auth?: string } = {}) {
  const headers: Record<string, string> = {}
  if (opts.auth) headers.authorization = opts.auth
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (opts.raw) headers['content-type'] = 'application/octet-stream'
  const res = await fetch(`${url}/xrpc/${nsid}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  })
  return { status: res.status, body: (await res.json().catch(() => null)) as any }
}

test('starts on the reference pds.env and serves under its hostname, with its invites and handle domain', async () => {
  const described = await xrpc('GET', 'com.atproto.server.describeServer')
  assert.is(described.status, 200)
  assert.is(described.body.did, `did:web:${reference.PDS_HOSTNAME}`)
  assert.equal(described.body.availableUserDomains, [`.${reference.PDS_HOSTNAME}`])
  assert.is(described.body.inviteCodeRequired, true)
  // the relay from PDS_CRAWLERS is asked to crawl this hostname
  for (let i = 0; crawlRequests.length === 0; i++) {
    assert.ok(i < 1000, 'no requestCrawl reached the relay')
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.is(crawlRequests[0]!.path, '/xrpc/com.atproto.sync.requestCrawl')
  assert.is(JSON.parse(crawlRequests[0]!.body).hostname, reference.PDS_HOSTNAME)
})

test("uses the file's secrets, data folder, blob folder and blob limit", async () => {
  // nothing generated: the three secrets came from the file
  assert.not.ok(existsSync(join(dataDir, 'secrets', 'jwt-secret')))
  assert.not.ok(existsSync(join(dataDir, 'secrets', 'admin-password')))
  assert.not.ok(existsSync(join(dataDir, 'secrets', 'plc-rotation-key.hex')))
  assert.ok(existsSync(join(dataDir, 'carrel.sqlite')), 'the database is in PDS_DATA_DIRECTORY')

  // the admin password opens the admin methods; an invite lets an account in
  const admin = basic('admin', reference.PDS_ADMIN_PASSWORD!)
  const invite = await xrpc('POST', 'com.atproto.server.createInviteCode', { auth: admin, body: { useCount: 1 } })
  assert.is(invite.status, 200)
  const handle = `alice.${reference.PDS_HOSTNAME}`
  const created = await xrpc('POST', 'com.atproto.server.createAccount', {
    body: { handle, email: 'alice@example.com', password: 'correct horse battery staple', inviteCode: invite.body.code },
  })
  assert.is(created.status, 200, JSON.stringify(created.body))
  const { did, accessJwt } = created.body

  // the DID is controlled by the file's rotation key
  const data = (await (await fetch(`${plc.url}/${did}/data`)).json()) as { rotationKeys: string[]; services: any }
  const rotation = await Secp256k1Keypair.import(reference.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX!)
  assert.ok(data.rotationKeys.includes(rotation.did()), 'the rotation key from pds.env')
  assert.is(data.services.atproto_pds.endpoint, `https://${reference.PDS_HOSTNAME}`)

  // sessions are signed with the file's JWT secret
  const session = await xrpc('GET', 'com.atproto.server.getSession', { auth: `Bearer ${accessJwt}` })
  assert.is(session.status, 200)
  assert.is(session.body.handle, handle)

  // a blob over Carrel's default 5 MiB limit but within the file's 100 MB lands in /pds/blocks
  const blob = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 31) % 251)
  const uploaded = await xrpc('POST', 'com.atproto.repo.uploadBlob', { auth: `Bearer ${accessJwt}`, raw: blob })
  assert.is(uploaded.status, 200, JSON.stringify(uploaded.body))
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
  assert.ok(
    files(join(dataDir, 'blocks')).some((f) => statSync(f).size === blob.length),
    'the blob is stored under PDS_BLOBSTORE_DISK_LOCATION',
  )
})

test('every variable of the installer-made pds.env is read; ignored reference variables are named in the log, never their values', async () => {
  const line = server
    .output()
    .split('\n')
    .find((l) => l.includes('reference PDS variables'))
  const variables = line ? (JSON.parse(line) as { variables: string[] }).variables : []
  const ignored = new Set(Object.values(IGNORED_REFERENCE_VARIABLES).flat())
  assert.equal(Object.keys(reference).filter((k) => ignored.has(k)), [], 'the installer writes only variables Carrel reads')
  assert.equal(variables, [])
  for (const secret of [reference.PDS_EMAIL_SMTP_URL!, 're_madeUpKey7f3a91', reference.PDS_JWT_SECRET!, reference.PDS_ADMIN_PASSWORD!]) {
    assert.not.ok(server.output().includes(secret), 'a value from pds.env in the log')
  }
  // a pds.env with settings Carrel does not use (S3 blobs, Redis) starts, and names them only
  const dir = mkdtempSync(join(tmpdir(), 'carrel-refenv-ignored-'))
  try {
    const cfg = await loadConfig({
      ...reference,
      PDS_DATA_DIRECTORY: dir,
      PDS_BLOBSTORE_DISK_LOCATION: join(dir, 'blobs'),
      PDS_BLOBSTORE_S3_BUCKET: 'bucket-made-up-9d2c',
      PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY: 's3-secret-made-up-41be',
      PDS_REDIS_SCRATCH_ADDRESS: 'redis:6379',
    })
    assert.equal([...cfg.ignoredReferenceVariables].sort(), ['PDS_BLOBSTORE_S3_BUCKET', 'PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY', 'PDS_REDIS_SCRATCH_ADDRESS'])
    assert.not.ok(JSON.stringify(cfg.ignoredReferenceVariables).includes('made-up'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('LOG_ENABLED: the reference switch; false silences the log, true leaves LOG_LEVEL in charge', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-refenv-log-'))
  try {
    const base = { PDS_DATA_DIRECTORY: dir, PDS_JWT_SECRET: reference.PDS_JWT_SECRET, PDS_ADMIN_PASSWORD: reference.PDS_ADMIN_PASSWORD }
    assert.is((await loadConfig({ ...base, LOG_ENABLED: 'false' })).logLevel, 'silent')
    assert.is((await loadConfig({ ...base, LOG_ENABLED: 'false', LOG_LEVEL: 'debug' })).logLevel, 'silent')
    assert.is((await loadConfig({ ...base, LOG_ENABLED: 'true', LOG_LEVEL: 'debug' })).logLevel, 'debug')
    assert.is((await loadConfig({ ...base, LOG_ENABLED: 'true' })).logLevel, 'info')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
