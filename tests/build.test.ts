// `npm start` compiles dist/ only when one of its inputs changed (scripts/build.mjs keeps a hash
// of them in dist/.build-stamp). Run on a copy of the project in a temporary folder, so that
// the sources can be changed without touching the checkout.
import { spawn } from 'node:child_process'
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, startServerProcess, stopServerProcess } from './_server-process.ts'

const root = join(import.meta.dirname, '..')
const copy = mkdtempSync(join(tmpdir(), 'carrel-build-'))
const BUILT = '[build] dist/ compiled'
let plc: Plc

test.before(async () => {
  for (const dir of ['src', 'migrations', 'lexicons', 'scripts']) cpSync(join(root, dir), join(copy, dir), { recursive: true })
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) cpSync(join(root, file), join(copy, file))
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'))
  plc = await startPlc()
})

test.after(async () => {
  await plc.close()
  rmSync(copy, { recursive: true, force: true })
})

/** `node scripts/build.mjs ARGS` in the copy: its exit code and output */
function build(...args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(copy, 'scripts', 'build.mjs'), ...args], { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.on('close', (code) => resolve({ code, output }))
  })
}

const bundle = join(copy, 'dist', 'src', 'carrel.cjs')
const builtAt = () => statSync(bundle).mtimeMs

test('a fresh copy is compiled once; unchanged sources are not compiled again', async () => {
  const first = await build()
  assert.is(first.code, 0, first.output)
  assert.ok(first.output.includes(BUILT), first.output)
  for (const out of ['dist/src/carrel.cjs', 'dist/src/index.js', 'dist/migrations/001_init.js', 'dist/.build-stamp']) {
    assert.ok(existsSync(join(copy, out)), out)
  }
  const at = builtAt()
  const again = await build()
  assert.is(again.code, 0, again.output)
  assert.not.ok(again.output.includes(BUILT), again.output)
  assert.is(builtAt(), at)
})

test('npm start on unchanged sources starts the compiled server without compiling', async () => {
  const at = builtAt()
  const port = await freePort()
  const server = await startServerProcess(
    port,
    // the compile cache of a copy that is removed afterwards goes with it
    { PDS_DATA_DIRECTORY: join(copy, 'data'), PDS_DID_PLC_URL: plc.url, LOG_LEVEL: 'silent', NODE_COMPILE_CACHE: join(copy, 'compile-cache') },
    { capture: true, cwd: copy },
  )
  try {
    const res = await fetch(`http://localhost:${port}/xrpc/com.atproto.server.describeServer`)
    assert.is(res.status, 200)
    assert.not.ok(server.output().includes(BUILT), server.output())
    assert.is(builtAt(), at)
  } finally {
    await stopServerProcess(server)
  }
})

test('a changed source, a removed migration: compiled again, no stale output left', async () => {
  appendFileSync(join(copy, 'README.md'), '\nnot an input of dist/\n')
  assert.not.ok((await build()).output.includes(BUILT), 'README.md is not an input')

  appendFileSync(join(copy, 'src', 'config.ts'), '\n// changed\n')
  const changed = await build()
  assert.ok(changed.output.includes(BUILT), changed.output)

  unlinkSync(join(copy, 'migrations', '002_blobs.ts'))
  const removed = await build()
  assert.ok(removed.output.includes(BUILT), removed.output)
  assert.not.ok(existsSync(join(copy, 'dist', 'migrations', '002_blobs.js')), 'a removed migration is still compiled')
  assert.ok(existsSync(join(copy, 'dist', 'migrations', '001_init.js')))
})

test('two starts at once after a change: one compiles, the other waits for it', async () => {
  appendFileSync(join(copy, 'src', 'pds.ts'), '\n// changed again\n')
  const [a, b] = await Promise.all([build(), build()])
  assert.is(a.code, 0, a.output)
  assert.is(b.code, 0, b.output)
  assert.is([a, b].filter((r) => r.output.includes(BUILT)).length, 1, a.output + b.output)
  assert.not.ok(existsSync(join(copy, 'dist', '.build-lock')))
  // and an explicit build (npm run build) always compiles
  assert.ok((await build('--force')).output.includes(BUILT))
})

test.run()
