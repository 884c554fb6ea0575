#!/usr/bin/env node
// Compiles the server into dist/ with esbuild, only when an input changed.
//   node scripts/build.mjs           build if dist/ is missing or older than its inputs
//   node scripts/build.mjs --force   build now (npm run build)
// dist/src/carrel.cjs  the server: src/ and its dependencies in one CommonJS file (plus a source map)
// dist/src/index.js    the entry point: Node's compile cache on, then carrel.cjs
// dist/src/carrel-cli.cjs, dist/src/cli.js   the same for the operator's CLI (src/cli/index.ts)
// dist/migrations/     migrations/*.ts compiled one by one (read by the migrator at start-up)
// dist/.build-stamp    SHA-256 of every input; dist/ is current when it matches
// One file starts several times faster than ~1,000 modules through Node's ESM loader (resolution,
// format detection, CommonJS export scanning). Types are checked by `npm run typecheck`, not here.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const stampFile = join(dist, '.build-stamp')
const lockFile = join(dist, '.build-lock')

const INPUT_DIRS = ['src', 'migrations']
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.mjs']
// native addons and what only some starts need stay in node_modules: kysely (only when a
// migration is pending) and the embedded PLC directory (only without PDS_DID_PLC_URL)
const EXTERNAL = ['better-sqlite3', 'secp256k1', 'kysely', '@did-plc/server', '@did-plc/lib']

const entry = (bundle) => `// Written by scripts/build.mjs. Node's compile cache (in the OS temp folder) keeps V8's
// compiled code of the bundle between starts; it is written out at once, as a crash never would.
import module from 'node:module'
module.enableCompileCache?.()
module.createRequire(import.meta.url)('./${bundle}')
module.flushCompileCache?.()
`
const ENTRY = entry('carrel.cjs')
// a shebang and mode 0755: the image links it as /usr/local/bin/carrel
const CLI_ENTRY = '#!/usr/bin/env node\n' + entry('carrel-cli.cjs')

function filesUnder(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name)
      return statSync(p).isDirectory() ? filesUnder(p) : [p]
    })
}

/** SHA-256 over the path and bytes of every input file. */
export function inputsHash() {
  const hash = createHash('sha256')
  const files = [...INPUT_DIRS.flatMap((d) => filesUnder(join(root, d))), ...INPUT_FILES.map((f) => join(root, f))]
  for (const file of files) {
    hash.update(relative(root, file) + '\0')
    hash.update(existsSync(file) ? readFileSync(file) : '(absent)')
    hash.update('\0')
  }
  return hash.digest('hex')
}

function isCurrent(hash) {
  return (
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === hash &&
    existsSync(join(dist, 'src', 'carrel.cjs')) &&
    existsSync(join(dist, 'src', 'index.js')) &&
    existsSync(join(dist, 'src', 'cli.js'))
  )
}

function lockIsStale() {
  try {
    const owner = Number(readFileSync(lockFile, 'utf8'))
    if (Date.now() - statSync(lockFile).mtimeMs > 5 * 60_000) return true
    process.kill(owner, 0) // throws ESRCH when no such process
    return false
  } catch (err) {
    return err.code !== 'EPERM' // gone meanwhile, or its owner is
  }
}

/**
 * One build at a time (the test runner starts servers from two files at once). The lock of a
 * process that died, or is older than any build takes, is taken over.
 */
async function withLock(fn) {
  mkdirSync(dist, { recursive: true })
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
      break
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      if (lockIsStale()) rmSync(lockFile, { force: true })
      else await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(lockFile, { force: true })
  }
}

/** Writes beside and renames into place: a server starting meanwhile reads the old or the new file, never half of one. */
function writeAtomically(path, contents, mode) {
  mkdirSync(dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.tmp`
  writeFileSync(temp, contents, mode ? { mode } : undefined)
  renameSync(temp, path)
}

async function compile() {
  const { build } = await import('esbuild')
  const common = { absWorkingDir: root, bundle: true, platform: 'node', target: 'node22', write: false, logLevel: 'warning' }
  const bundle = (entryPoint, outfile) => build({
    ...common,
    entryPoints: [entryPoint],
    outfile,
    format: 'cjs',
    sourcemap: 'linked',
    external: EXTERNAL,
    // our modules find files from their own location (paths.ts, db/index.ts): in the bundle,
    // the bundle's; any other import.meta use would silently break, so it fails the build
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logOverride: { 'empty-import-meta': 'error' },
  })
  const [server, cli] = await Promise.all([bundle('src/index.ts', 'dist/src/carrel.cjs'), bundle('src/cli/index.ts', 'dist/src/carrel-cli.cjs')])
  const migrations = await build({
    ...common,
    entryPoints: readdirSync(join(root, 'migrations'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `migrations/${f}`),
    outdir: 'dist/migrations',
    format: 'esm',
    packages: 'external',
  })
  const outputs = [...server.outputFiles, ...cli.outputFiles, ...migrations.outputFiles].map((f) => ({ path: f.path, contents: f.contents }))
  outputs.push({ path: join(dist, 'src', 'index.js'), contents: ENTRY })
  outputs.push({ path: join(dist, 'src', 'cli.js'), contents: CLI_ENTRY, mode: 0o755 })
  for (const out of outputs) writeAtomically(out.path, out.contents, out.mode)
  removeAllBut(dist, new Set([...outputs.map((o) => o.path), lockFile, stampFile]))
}

/** Whatever else is in dist/ is from an earlier build (a removed migration must not run). */
function removeAllBut(dir, keep) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      removeAllBut(p, keep)
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true })
    } else if (!keep.has(p)) {
      unlinkSync(p)
    }
  }
}

/** Builds dist/ unless it is current; returns whether it built. */
export async function ensureBuilt({ force = false } = {}) {
  const hash = inputsHash()
  if (!force && isCurrent(hash)) return false
  return withLock(async () => {
    if (!force && isCurrent(hash)) return false // built by another process while we waited
    rmSync(stampFile, { force: true })
    const started = performance.now()
    await compile()
    writeFileSync(stampFile, hash)
    process.stderr.write(`[build] dist/ compiled in ${Math.round(performance.now() - started)} ms\n`)
    return true
  })
}

// run as a script (not imported by scripts/start.mjs)
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await ensureBuilt({ force: process.argv.includes('--force') })
}
