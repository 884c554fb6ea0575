// Start-up refuses unusable secrets, and creates what it writes owner-only. Each server here is
// started by `npm start` in its own process (tests/_server-process.ts): a refused start must
// exit non-zero with a message naming the variable or file, never print the value, and leave
// nothing written; a good start creates the data directory, secrets, database and blob folders
// readable by their owner alone.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { MIN_SECRET_LENGTH } from '../src/config.ts'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, refusedStart, startServerProcess, stopServerProcess } from './_server-process.ts'

let plc: Plc
const base = mkdtempSync(join(tmpdir(), 'carrel-startup-'))
let counter = 0
const freshPath = () => join(base, `case-${++counter}`, 'data') // does not exist yet

test.before(async () => {
  plc = await startPlc()
})

test.after(async () => {
  await plc.close()
  rmSync(base, { recursive: true, force: true })
})

/** every file and folder under `dir`, relative, sorted */
function listing(dir: string, prefix = ''): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name)
      return statSync(path).isDirectory() ? [`${prefix}${name}/`, ...listing(path, `${prefix}${name}/`)] : [`${prefix}${name}`]
    })
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8).padStart(4, '0')

type Refusal = { name: string; names: string; value: string }

const GOOD_KEY = 'a1'.repeat(32)
const short = 'x'.repeat(MIN_SECRET_LENGTH - 1)

/** a bad value in the environment; the data directory does not exist beforehand */
const envCases: (Refusal & { env: Record<string, string> })[] = [
  { name: 'empty PDS_JWT_SECRET', names: 'PDS_JWT_SECRET is empty', value: '', env: { PDS_JWT_SECRET: '' } },
  { name: 'short PDS_JWT_SECRET', names: 'PDS_JWT_SECRET is shorter than 16', value: short, env: { PDS_JWT_SECRET: short } },
  { name: 'empty PDS_ADMIN_PASSWORD', names: 'PDS_ADMIN_PASSWORD is empty', value: '', env: { PDS_ADMIN_PASSWORD: '' } },
  { name: 'short PDS_ADMIN_PASSWORD', names: 'PDS_ADMIN_PASSWORD is shorter than 16', value: 'hunter2-hunter', env: { PDS_ADMIN_PASSWORD: 'hunter2-hunter' } },
  {
    name: 'empty rotation key',
    names: 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX is empty',
    value: '',
    env: { PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: '' },
  },
  {
    name: 'rotation key out of the curve order',
    names: 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX is not a secp256k1 private key',
    value: 'ff'.repeat(32),
    env: { PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'ff'.repeat(32) },
  },
  {
    name: 'rotation key that is not hex',
    names: 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX is not a secp256k1 private key',
    value: 'secret-words-'.repeat(5),
    env: { PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: 'secret-words-'.repeat(5) },
  },
]

/** a bad file in <data>/secrets/ (written by hand, or by a crash of another tool) */
const fileCases: (Refusal & { file: string; contents: string })[] = [
  { name: 'empty jwt-secret file', names: 'secrets/jwt-secret is empty', value: '', file: 'jwt-secret', contents: '' },
  { name: 'blank admin-password file', names: 'secrets/admin-password is empty', value: '', file: 'admin-password', contents: ' \n' },
  { name: 'empty rotation key file', names: 'secrets/plc-rotation-key.hex is empty', value: '', file: 'plc-rotation-key.hex', contents: '' },
  { name: 'short jwt-secret file', names: 'secrets/jwt-secret is shorter than 16', value: 'tiny-secret-9', file: 'jwt-secret', contents: 'tiny-secret-9\n' },
]

function assertRefused(r: { code: number | null; output: string }, c: Refusal) {
  assert.is(r.code, 1, `${c.name}: exit code; output:\n${r.output}`)
  assert.ok(r.output.includes(`carrel: not starting: `), `${c.name}: ${r.output}`)
  assert.ok(r.output.includes(c.names), `${c.name}: the message names what is wrong: ${r.output}`)
  if (c.value.trim()) assert.not.ok(r.output.includes(c.value), `${c.name}: the value is printed`)
  assert.not.match(r.output, /\n\s+at /, `${c.name}: a stack trace is printed`)
}

test('a bad secret in the environment: start-up refused, nothing created', async () => {
  const results = await Promise.all(
    envCases.map(async (c) => {
      const dataDir = freshPath()
      return { c, dataDir, r: await refusedStart({ PDS_DATA_DIRECTORY: dataDir, PDS_DID_PLC_URL: plc.url, ...c.env }) }
    }),
  )
  for (const { c, dataDir, r } of results) {
    assertRefused(r, c)
    assert.throws(() => statSync(dataDir), /ENOENT/, `${c.name}: the data directory was created`)
  }
})

test('a bad persisted secret file: start-up refused, nothing else written', async () => {
  const results = await Promise.all(
    fileCases.map(async (c) => {
      const dataDir = freshPath()
      mkdirSync(join(dataDir, 'secrets'), { recursive: true, mode: 0o700 })
      writeFileSync(join(dataDir, 'secrets', c.file), c.contents, { mode: 0o600 })
      return { c, dataDir, r: await refusedStart({ PDS_DATA_DIRECTORY: dataDir, PDS_DID_PLC_URL: plc.url }) }
    }),
  )
  for (const { c, dataDir, r } of results) {
    assertRefused(r, c)
    assert.ok(r.output.includes(join(dataDir, 'secrets', c.file)), `${c.name}: the message names the file: ${r.output}`)
    // no database, no other secret generated, the bad file untouched
    assert.equal(listing(dataDir), ['secrets/', `secrets/${c.file}`], c.name)
  }
})

test('a fresh data directory: folders 0700, secrets, database (with -wal, -shm) and blobs 0600', async () => {
  const dataDir = freshPath()
  const port = await freePort()
  // a JWT secret of exactly the minimum length is accepted; the other secrets are generated
  const server = await startServerProcess(port, {
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_JWT_SECRET: 'j'.repeat(MIN_SECRET_LENGTH),
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: GOOD_KEY,
    LOG_LEVEL: 'silent',
  })
  try {
    // a blob kept by a record puts a file under blobs/<did>/
    const agent = new AtpAgent({ service: `http://localhost:${port}` })
    await agent.createAccount({ handle: 'modes.test', email: 'modes@mail.test', password: 'correct horse battery staple' })
    const blob = await agent.com.atproto.repo.uploadBlob(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), { encoding: 'image/png' })
    await agent.com.atproto.repo.createRecord({
      repo: agent.session!.did,
      collection: 'com.example.pic',
      record: { $type: 'com.example.pic', image: blob.data.blob },
    })

    const entries = listing(dataDir)
    for (const expected of ['carrel.sqlite', 'carrel.sqlite-wal', 'carrel.sqlite-shm', 'secrets/admin-password', 'blobs/.tmp/']) {
      assert.ok(entries.includes(expected), `${expected} in ${entries.join(' ')}`)
    }
    // only generated secrets are written: the JWT secret and the rotation key came from the environment
    assert.equal(
      entries.filter((e) => e.startsWith('secrets/')),
      ['secrets/', 'secrets/admin-password'],
    )
    const blobFiles = entries.filter((e) => /^blobs\/did[^/]*\/.+[^/]$/.test(e))
    assert.is(blobFiles.length, 1, entries.join(' '))
    assert.is(mode(dataDir), '0700', 'data directory')
    for (const entry of entries) {
      assert.is(mode(join(dataDir, entry)), entry.endsWith('/') ? '0700' : '0600', entry)
    }
  } finally {
    await stopServerProcess(server)
  }
})

test.run()
