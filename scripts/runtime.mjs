#!/usr/bin/env node
// Node 22 runtime shim for machines that only have an older Node.
//   node scripts/runtime.mjs ensure      (postinstall) fetch Node 22 from the npm registry when
//                                        needed and build better-sqlite3 against its headers
//   node scripts/runtime.mjs exec ARGS   run `node ARGS` under Node >= 22
// On a machine whose Node is already >= 22 both do nothing extra. scripts/start.mjs imports execNode.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const REQUIRED_MAJOR = 22
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const runtimeDir = join(root, '.runtime', `node${REQUIRED_MAJOR}`)
const runtimeNode = join(runtimeDir, 'bin', 'node')
const currentMajor = Number(process.versions.node.split('.')[0])

function log(msg) {
  process.stderr.write(`[runtime] ${msg}\n`)
}

function platformPackage() {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win' }[process.platform]
  if (!os) throw new Error(`no Node ${REQUIRED_MAJOR} package for platform ${process.platform}`)
  return `node-${os}-${process.arch}@${REQUIRED_MAJOR}`
}

function fetchRuntime() {
  if (existsSync(runtimeNode)) return
  const work = join(root, '.runtime', 'download')
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const pkg = platformPackage()
  log(`Node ${process.versions.node} < ${REQUIRED_MAJOR}: fetching ${pkg} from the npm registry`)
  execFileSync('npm', ['pack', pkg, '--pack-destination', work, '--silent'], {
    cwd: work,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))
  if (!tarball) throw new Error(`npm pack ${pkg} produced no tarball`)
  rmSync(runtimeDir, { recursive: true, force: true })
  mkdirSync(runtimeDir, { recursive: true })
  execFileSync('tar', ['xzf', join(work, tarball), '-C', runtimeDir, '--strip-components=1'])
  rmSync(work, { recursive: true, force: true })
  log(`Node ${execFileSync(runtimeNode, ['--version']).toString().trim()} at ${runtimeNode}`)
}

function nativeModuleLoads(node) {
  try {
    execFileSync(node, ['-e', "new (require('better-sqlite3'))(':memory:').close()"], {
      cwd: root,
      stdio: 'ignore',
    })
    return true
  } catch {
    return false
  }
}

function ensure() {
  if (currentMajor >= REQUIRED_MAJOR) return
  fetchRuntime()
  if (nativeModuleLoads(runtimeNode)) return
  log(`building better-sqlite3 for Node ${REQUIRED_MAJOR} (takes about a minute)`)
  execFileSync('npm', ['rebuild', 'better-sqlite3', '--foreground-scripts=false'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      PATH: `${join(runtimeDir, 'bin')}:${process.env.PATH}`,
      npm_config_nodedir: runtimeDir,
      npm_config_build_from_source: 'true',
    },
  })
  if (!nativeModuleLoads(runtimeNode)) throw new Error('better-sqlite3 does not load under Node 22')
}

export function nodeBinary() {
  if (currentMajor >= REQUIRED_MAJOR) return process.execPath
  if (!existsSync(runtimeNode)) ensure()
  return runtimeNode
}

/** Runs `node ARGS` under Node >= 22, passes signals on, and exits as it exits. */
export function execNode(args) {
  const node = nodeBinary()
  const child = spawn(node, args, {
    stdio: 'inherit',
    // two malloc arenas: glibc's default (8 per core) let the server's RSS grow by ~90 MB
    // under concurrent writes for no gain in throughput
    env: { MALLOC_ARENA_MAX: '2', ...process.env, PATH: `${dirname(node)}:${process.env.PATH}` },
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 1)
    // die of the same signal: without our handlers, else re-raising SIGTERM would only call them
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeAllListeners(sig)
    process.kill(process.pid, signal)
  })
}

// run as a script (not imported by scripts/start.mjs)
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2)
  if (command === 'ensure') {
    ensure()
  } else if (command === 'exec') {
    execNode(rest)
  } else if (command === 'node') {
    process.stdout.write(nodeBinary() + '\n')
  } else {
    log('usage: runtime.mjs ensure | exec ARGS... | node')
    process.exit(2)
  }
}
