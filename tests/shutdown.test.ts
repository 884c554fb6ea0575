// SIGTERM (what `docker stop` and `podman-compose down` send): the server, started as `npm start`
// starts it (tests/_server-process.ts), stops taking connections, lets the answers under way
// finish within PDS_SHUTDOWN_GRACE_MS, closes firehose subscribers with a close frame, and closes
// SQLite cleanly. A write whose body is still arriving when the signal comes is answered and kept;
// every acknowledged write is there after a restart; an export in flight either completes (a CAR
// that verifies) or, once the grace period is over, is cut so that the client can tell: the
// chunked body never gets its last chunk, never a complete-looking truncated CAR.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { formatDidKey, multibaseToBytes, SECP256K1_JWT_ALG } from '@atproto/crypto'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import Database from 'better-sqlite3'
import { RawSubscriber } from './_firehose.ts'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from './_server-process.ts'

const COLLECTION = 'com.example.shutdown'
/** records of ~700 kB: the CAR (~21 MB) is more than the sockets between us can buffer */
const BIG_RECORDS = 30

let plc: Plc
let dataDir: string
let port: number
let url: string
let did: string
let accessJwt: string
let signingKey: string
/** uri -> cid of every write the server acknowledged before it stopped */
const acknowledged = new Map<string, string>()

function serverEnv(graceMs: number): Record<string, string> {
  return {
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_SHUTDOWN_GRACE_MS: String(graceMs),
    PDS_JWT_SECRET: 'shutdown-test-jwt-secret-4c1f',
    PDS_ADMIN_PASSWORD: 'shutdown-test-admin-8d02',
    LOG_LEVEL: 'info',
  }
}

function sigterm(server: ServerProcess): void {
  process.kill(-server.child.pid!, 'SIGTERM')
}

/** The first line of the server's log whose message starts with `msg`, parsed. */
async function outputLine(server: ServerProcess, msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const line = server
      .output()
      .split('\n')
      .find((l) => l.includes(`"msg":"${msg}`))
    if (line) return JSON.parse(line)
    if (Date.now() > deadline) throw new Error(`no "${msg}" line in the server's output:\n${server.output().slice(-2000)}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Resolves when nothing listens on the port any more (a new connection is refused). */
function connectionRefused(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

/**
 * A createRecord whose headers the server has taken (it answered `100 Continue`) and whose body
 * has only begun to arrive; `finish()` sends the rest and resolves with the answer.
 */
async function halfSentWrite(text: string): Promise<{ finish(): Promise<{ status: number; body: any; error?: string }> }> {
  const body = JSON.stringify({ repo: did, collection: COLLECTION, record: { $type: COLLECTION, text } })
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/xrpc/com.atproto.repo.createRecord',
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${accessJwt}`,
      expect: '100-continue',
    },
  })
  // a connection cut under the request is an answer too: status 0 and the error
  const answer = new Promise<{ status: number; body: any; error?: string }>((resolve) => {
    req.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }))
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
      res.on('error', (err) => resolve({ status: 0, body: undefined, error: err.message }))
    })
  })
  await new Promise<void>((resolve, reject) => {
    req.once('continue', () => resolve())
    req.once('error', reject)
  })
  req.write(body.slice(0, 20))
  return {
    finish() {
      req.end(body.slice(20))
      return answer
    },
  }
}

type PausedExport = {
  res: IncomingMessage
  /** reads the rest; `complete` is false when the connection closed before the body's end */
  readRest(): Promise<{ bytes: Buffer; complete: boolean; error?: string }>
}

/** A getRepo whose client read its first chunk and then stopped reading. */
function pausedExport(): Promise<PausedExport> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/xrpc/com.atproto.sync.getRepo?did=${did}`, agent: false })
    req.once('error', reject)
    req.once('response', (res) => {
      const chunks: Buffer[] = []
      res.once('data', (first: Buffer) => {
        chunks.push(first)
        res.pause()
        resolve({
          res,
          readRest: () =>
            new Promise((done) => {
              let error: string | undefined
              res.on('data', (c: Buffer) => chunks.push(c))
              res.once('error', (err) => (error = err.message))
              res.once('close', () => done({ bytes: Buffer.concat(chunks), complete: res.complete, error }))
              res.resume()
            }),
        })
      })
    })
    req.end()
  })
}

async function storedUris(agent: AtpAgent): Promise<Map<string, string>> {
  const stored = new Map<string, string>()
  let cursor: string | undefined
  do {
    const page = await agent.com.atproto.repo.listRecords({ repo: did, collection: COLLECTION, limit: 100, cursor })
    for (const r of page.data.records) stored.set(r.uri, r.cid)
    cursor = page.data.cursor
  } while (cursor)
  return stored
}

async function exportVerifies(bytes: Uint8Array): Promise<number> {
  const { root, blocks } = await readCarWithRoot(bytes)
  const verified = await verifyRepo(blocks, root, did, signingKey)
  return verified.creates.length
}

test.before(async () => {
  plc = await startPlc()
  dataDir = mkdtempSync(join(tmpdir(), 'carrel-shutdown-'))
  port = await freePort()
  url = `http://localhost:${port}`
})

test.after(async () => {
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('SIGTERM: a write and an export under way finish, writers are acknowledged or refused, subscribers get a close frame, SQLite closes cleanly', async () => {
  const server = await startServerProcess(port, serverEnv(20_000), { capture: true })
  try {
    const agent = new AtpAgent({ service: url })
    await agent.createAccount({ handle: 'drain.test', email: 'drain@mail.test', password: 'correct horse battery staple' })
    did = agent.session!.did
    accessJwt = agent.session!.accessJwt
    const doc = (await (await fetch(`${plc.url}/${did}`)).json()) as { verificationMethod: { id: string; type: string; publicKeyMultibase: string }[] }
    const vm = doc.verificationMethod.find((m) => m.id.endsWith('#atproto'))!
    signingKey =
      vm.type === 'Multikey' ? `did:key:${vm.publicKeyMultibase}` : formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(vm.publicKeyMultibase))
    for (let i = 0; i < BIG_RECORDS; i++) {
      await agent.com.atproto.repo.createRecord({ repo: did, collection: COLLECTION, record: { $type: COLLECTION, text: `${i % 10}`.repeat(700_000) } })
    }

    const subscriber = await RawSubscriber.connect(url)
    const exporting = await pausedExport()
    assert.is(exporting.res.statusCode, 200)
    // the body's end is marked by the last chunk: a cut connection cannot pass for a whole CAR
    assert.is(exporting.res.headers['transfer-encoding'], 'chunked')
    assert.is(exporting.res.headers['content-length'], undefined)
    const write = await halfSentWrite('arrived during shutdown')

    // writers that keep going until the server refuses them
    let writes = 0
    const writers = Array.from({ length: 2 }, async () => {
      for (;;) {
        try {
          const res = await agent.com.atproto.repo.createRecord({ repo: did, collection: COLLECTION, record: { $type: COLLECTION, text: `w${writes++}` } })
          acknowledged.set(res.data.uri, res.data.cid)
        } catch {
          return // refused: the server has stopped taking connections
        }
      }
    })
    while (acknowledged.size < 20) await new Promise((r) => setTimeout(r, 5))

    sigterm(server)
    await outputLine(server, 'shutting down')
    assert.ok(await connectionRefused(), 'a new connection is refused once shutdown began')
    await Promise.all(writers)

    // the write whose body was still arriving is answered, and the export runs to its end
    const written = await write.finish()
    assert.is(written.status, 200, written.error ?? JSON.stringify(written.body))
    acknowledged.set(written.body.uri, written.body.cid)
    const rest = await exporting.readRest()
    assert.is(rest.error, undefined)
    assert.ok(rest.complete, 'the export ended with its last chunk')
    assert.ok((await exportVerifies(rest.bytes)) >= BIG_RECORDS, 'the exported CAR verifies and holds the records')

    const closed = await subscriber.closed
    assert.is(closed.code, 1001, 'the firehose subscriber got a close frame: going away')

    const stopped = await outputLine(server, 'stopped')
    assert.is(stopped.drained, true)
    assert.is(stopped.handlersSettled, true)
    await stopServerProcess(server)
    assert.not.match(server.output(), /"level":50/, 'no error logged')
  } finally {
    await stopServerProcess(server, 'SIGKILL')
  }

  // a clean close: the last connection checkpointed the WAL into the database and removed it
  assert.not.ok(existsSync(join(dataDir, 'carrel.sqlite-wal')), 'no WAL left behind')
  const db = new Database(join(dataDir, 'carrel.sqlite'), { readonly: true })
  assert.is(db.pragma('integrity_check', { simple: true }), 'ok')
  db.close()
})

test('after the restart every acknowledged write is there; an export still running when the grace period ends is cut, never ended', async () => {
  const server = await startServerProcess(port, serverEnv(1_000), { capture: true })
  try {
    const agent = new AtpAgent({ service: url })
    await agent.login({ identifier: 'drain.test', password: 'correct horse battery staple' })
    accessJwt = agent.session!.accessJwt
    const stored = await storedUris(agent)
    for (const [uri, cid] of acknowledged) assert.is(stored.get(uri), cid, `acknowledged write lost: ${uri}`)
    const full = Buffer.from((await agent.com.atproto.sync.getRepo({ did })).data)
    assert.is(await exportVerifies(full), stored.size)
    assert.ok(stored.size > BIG_RECORDS + 20, `${stored.size} records stored`)

    const exporting = await pausedExport()
    sigterm(server)
    // the client reads nothing until the server has given up on it and stopped
    const stopped = await outputLine(server, 'stopped')
    assert.is(stopped.drained, false, 'the export was still running at the end of the grace period')
    const rest = await exporting.readRest()
    assert.not.ok(rest.complete, 'the body never got its last chunk: the client can tell it was cut')
    assert.ok(rest.error !== undefined, 'the client saw an error, not an end')
    assert.ok(rest.bytes.length < full.length, `${rest.bytes.length} of ${full.length} bytes`)
    await stopServerProcess(server)
  } finally {
    await stopServerProcess(server, 'SIGKILL')
  }
  assert.not.ok(existsSync(join(dataDir, 'carrel.sqlite-wal')), 'no WAL left behind')
})

test.run()
