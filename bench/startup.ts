// npm run bench -- startup: time from spawning the server to a healthy /xrpc/_health, killed with
// SIGKILL between runs (a restart after a crash). Rows: `npm start` and the Docker image's command
// (node on dist/src/index.js) with a PLC URL; `npm start` from a shell whose node is not 22 (the
// runtime shim's extra process, when this machine has such a node); with the embedded PLC
// directory; on a new data directory (migrations, generated secrets); with Node's compile cache
// empty (the first start after a build); after a source change (dist/ compiled first, in a copy
// of the project). Medians over BENCH_RUNS (default 7) runs of each.
import { execFileSync } from 'node:child_process'
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPlc } from '../tests/_harness.ts'
import { freePort, startServerProcess, stopServerProcess } from '../tests/_server-process.ts'
import { median } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const root = join(import.meta.dirname, '..')

type Row = { name: string; ms: number[] }

/** the node flags of package.json's start script, for the command the Docker image runs */
function startFlags(): string[] {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  return script.split(/\s+/).filter((a) => a.startsWith('--'))
}

/** `process.env.PATH` without the Node 22 that scripts/runtime.mjs put first: what a shell has */
function shellPath(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((p) => !p.includes(join('.runtime', 'node22')))
    .join(':')
}

function copyProject(): string {
  const copy = mkdtempSync(join(tmpdir(), 'carrel-bench-startup-'))
  for (const dir of ['src', 'migrations', 'lexicons', 'scripts']) cpSync(join(root, dir), join(copy, dir), { recursive: true })
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(root, file), join(copy, file))
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'))
  return copy
}

export default async function main(): Promise<void> {
  const plc = await startPlc()
  const scratch = mkdtempSync(join(tmpdir(), 'carrel-bench-data-'))
  const copy = copyProject()
  let n = 0
  const dataDir = (name: string) => join(scratch, name)
  const rows: Row[] = []

  async function measure(
    name: string,
    env: (run: number) => Record<string, string>,
    opts: { command?: string[]; cwd?: string; before?: (run: number) => void } = {},
  ): Promise<void> {
    const port = await freePort()
    const row: Row = { name, ms: [] }
    // one start first (not counted): the data directory, dist/ and the compile cache exist after it
    for (let run = -1; run < RUNS; run++) {
      opts.before?.(run)
      const server = await startServerProcess(port, { LOG_LEVEL: 'silent', ...env(run) }, { command: opts.command, cwd: opts.cwd })
      if (run >= 0) row.ms.push(server.startMs)
      await stopServerProcess(server, 'SIGKILL')
    }
    rows.push(row)
    console.error(`  ${name}: median ${Math.round(median(row.ms))} ms`)
  }

  const withPlc = { PDS_DATA_DIRECTORY: dataDir('restart'), PDS_DID_PLC_URL: plc.url }
  const shellNode = execFileSync('node', ['--version'], { env: { ...process.env, PATH: shellPath() } }).toString().trim()
  await measure('npm start, PLC URL', () => withPlc)
  await measure('node dist/src/index.js (Docker), PLC URL', () => withPlc, {
    command: [process.execPath, ...startFlags(), 'dist/src/index.js'],
  })
  if (Number(shellNode.slice(1).split('.')[0]) < 22) {
    await measure(`npm start from a shell on node ${shellNode}, PLC URL`, () => ({ ...withPlc, PATH: shellPath() }))
  }
  await measure('npm start, embedded PLC', () => ({ PDS_DATA_DIRECTORY: dataDir('embedded'), PDS_PLC_PORT: '0' }))
  await measure('npm start, new data directory', () => ({ PDS_DATA_DIRECTORY: dataDir(`new-${++n}`), PDS_DID_PLC_URL: plc.url }))
  await measure('npm start, compile cache empty', () => ({ ...withPlc, NODE_COMPILE_CACHE: dataDir(`cache-${++n}`) }))
  // (its compile cache in the copy, so that it goes with it)
  await measure('npm start, after a source change', () => ({ ...withPlc, NODE_COMPILE_CACHE: join(copy, 'compile-cache') }), {
    cwd: copy,
    before: (run) => appendFileSync(join(copy, 'src', 'index.ts'), `\n// bench run ${run}\n`),
  })

  await plc.close()
  rmSync(scratch, { recursive: true, force: true })
  rmSync(copy, { recursive: true, force: true })

  const f = (ms: number) => String(Math.round(ms)).padStart(8)
  console.log(`\nstart to healthy /xrpc/_health, ${RUNS} runs each (ms)`)
  console.log(`${'start'.padEnd(62)}${'median'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}`)
  for (const r of rows) console.log(`${r.name.padEnd(62)}${f(median(r.ms))}${f(Math.min(...r.ms))}${f(Math.max(...r.ms))}`)
  console.log(JSON.stringify({ bench: 'startup', runs: RUNS, medianMs: Object.fromEntries(rows.map((r) => [r.name, Math.round(median(r.ms))])) }))
}
