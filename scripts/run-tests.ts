// Runs every tests/**/*.test.ts file in its own Node process (each starts its own PLC and
// server), two at a time, and ends with one summary line: "N passed, N failed". The lines a passing
// file prints with "[figure] " (measured timings) are shown under its result.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const filter = process.argv[2]

function findTests(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...findTests(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

type Result = { file: string; passed: number; failed: number; skipped: number; code: number; output: string }

function runFile(file: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      // uvu prints "Total: N  Passed: N  Skipped: N" (with colour codes) per file
      const plain = output.replace(/\x1b\[[0-9;]*m/g, '')
      const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0)
      const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0)
      const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0)
      let failed = total - passed - skipped
      if ((code ?? 1) !== 0 && failed === 0) failed = 1
      resolve({ file, passed, failed, skipped, code: code ?? 1, output })
    })
  })
}

const files = findTests(join(root, 'tests')).filter((f) => !filter || f.includes(filter))
const results: Result[] = []
const queue = [...files]
const started = Date.now()
async function worker() {
  for (let f = queue.shift(); f; f = queue.shift()) {
    const r = await runFile(f)
    results.push(r)
    const status = r.failed > 0 ? 'FAIL' : 'ok  '
    console.log(`${status} ${relative(root, f)}  (${r.passed} passed, ${r.failed} failed)`)
    if (r.failed > 0) console.log(r.output.replace(/^/gm, '    | '))
    // figures a test prints (timings are printed, never asserted)
    else for (const line of r.output.split('\n')) if (line.includes('[figure] ')) console.log(`     ${line.slice(line.indexOf('[figure] '))}`)
  }
}
await Promise.all([worker(), worker()])
const passed = results.reduce((a, r) => a + r.passed, 0)
const failed = results.reduce((a, r) => a + r.failed, 0)
const skipped = results.reduce((a, r) => a + r.skipped, 0)
console.log(`\n${files.length} test files in ${((Date.now() - started) / 1000).toFixed(1)} s`)
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''))
process.exit(failed > 0 || files.length === 0 ? 1 : 0)
