import Database from 'better-sqlite3'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import * as assert from 'uvu/assert'

/** Runs `fn`, expecting an XRPC error with this status and error name; returns the error. */
export async function expectXrpcError(
  fn: () => Promise<unknown>,
  status: number,
  error: string,
): Promise<{ status: number; error: string; message: string }> {
  let caught: any
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught, `expected ${status} ${error}, but the call succeeded`)
  assert.is(caught.error, error, `error name (message: ${caught.message})`)
  assert.is(caught.status, status, `status for ${error}`)
  return { status: caught.status, error: caught.error, message: caught.message }
}

export function readFixtureLines(path: string): string[] {
  // lines that are blank or start with '#' are comments in the interop fixtures
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l: string) => l.length > 0 && !l.startsWith('#'))
}

export type RawResponse = { status: number; body: any; headers: Headers }

/**
 * A raw XRPC call with fetch, for asserting exact status codes, headers and error bodies
 * (the typed client turns those into exceptions).
 */
export async function rawXrpc(
  base: string,
  nsid: string,
  opts: {
    body?: unknown
    params?: Record<string, string>
    token?: string
    authorization?: string
    method?: 'GET' | 'POST'
    ip?: string
  } = {},
): Promise<RawResponse> {
  const url = new URL(`/xrpc/${nsid}`, base)
  for (const [k, v] of Object.entries(opts.params ?? {})) url.searchParams.set(k, v)
  const headers: Record<string, string> = {}
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  if (opts.authorization) headers.authorization = opts.authorization
  if (opts.ip) headers['x-forwarded-for'] = opts.ip
  const res = await fetch(url, {
    method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  })
  const text = await res.text()
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: res.status, body, headers: res.headers }
}

/** Byte equality, reported as the first differing offset (a diff of large buffers is unreadable). */
export function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array, label: string): void {
  assert.ok(actual, `${label}: bytes missing`)
  const a = Buffer.from(actual)
  const e = Buffer.from(expected)
  if (a.equals(e)) return
  let i = 0
  while (i < a.length && i < e.length && a[i] === e[i]) i++
  assert.unreachable(
    `${label}: ${a.length} bytes vs ${e.length} expected, first difference at ${i}: ${a.subarray(i, i + 8).toString('hex')} vs ${e.subarray(i, i + 8).toString('hex')}`,
  )
}

/** `com.atproto.sync.getRepo` as a CAR (a diff with `since`), expecting 200. */
export async function getRepoCar(base: string, did: string, since?: string): Promise<Uint8Array> {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', base)
  url.searchParams.set('did', did)
  if (since) url.searchParams.set('since', since)
  const res = await fetch(url)
  assert.is(res.status, 200)
  return new Uint8Array(await res.arrayBuffer())
}

/**
 * GET /.well-known/atproto-did with this Host header (fetch does not let a caller set Host, so
 * this goes through node:http).
 */
export function wellKnownDid(serverUrl: string, host: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(serverUrl)
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/.well-known/atproto-did', headers: { host } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A raw XRPC answer that must be this error: status, error name and, when given, a message matching `message`. */
export function expectError(res: RawResponse, status: number, error: string, message?: RegExp): void {
  assert.is(res.status, status, JSON.stringify(res.body))
  assert.is(res.body.error, error, JSON.stringify(res.body))
  if (message) assert.match(res.body.message, message)
}

/** A raw XRPC answer that must be 200. */
export function expectOk(res: RawResponse): void {
  assert.is(res.status, 200, JSON.stringify(res.body))
}

/** Where the server leaves a `kind` mail for `did` while no mail is configured: `<data>/outbox/<kind>-<did, file-safe>.txt`. */
export function outboxFile(dataDir: string, kind: 'account-delete' | 'plc-operation' | 'admin-message', did: string): string {
  return join(dataDir, 'outbox', `${kind}-${did.replace(/[^a-zA-Z0-9._-]/g, '_')}.txt`)
}

/** The names of the files in the server's outbox (`<data>/outbox`), none when it does not exist. */
export function outboxFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'outbox')
  return existsSync(dir) ? readdirSync(dir) : []
}

/** The token (`XXXXX-XXXXX`) of the `kind` mail for `did` in the server's outbox. */
export function outboxToken(dataDir: string, kind: 'account-delete' | 'plc-operation', did: string): string {
  const text = readFileSync(outboxFile(dataDir, kind, did), 'utf8')
  const match = /^Token: ([A-Z2-7]{5}-[A-Z2-7]{5})$/m.exec(text)
  assert.ok(match, text)
  return match[1]!
}

/** The PLC directory's current data for `did` (`/<did>/data`), which must be there. */
export async function plcData(plcUrl: string, did: string): Promise<any> {
  const res = await fetch(`${plcUrl}/${did}/data`)
  assert.is(res.status, 200)
  return res.json()
}

/** `size` bytes: a PNG signature and noise, stored as image/png, which image fields of app.bsky accept. */
export function png(size: number): Uint8Array {
  const bytes = new Uint8Array(randomBytes(size))
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0)
  return bytes
}

/** `npm run reindex` on the data directory of a stopped server. */
export function runReindex(dataDir: string): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync('npm', ['run', '--silent', 'reindex'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, PDS_DATA_DIRECTORY: dataDir },
    encoding: 'utf8',
  })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

/** `read` of a stopped server's database file, after `change` if given. */
export function readDbFile<T>(dataDir: string, read: (db: Database.Database) => T, change?: (db: Database.Database) => void): T {
  const db = new Database(join(dataDir, 'carrel.sqlite'))
  try {
    change?.(db)
    return read(db)
  } finally {
    db.close()
  }
}
