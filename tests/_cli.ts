// The operator's CLI as operators run it: the compiled `dist/src/cli.js` (scripts/build.mjs
// compiles it first when a source changed) in a child process, in an empty working directory
// (no ./pds.env), with only the environment given.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const cwd = mkdtempSync(join(tmpdir(), 'carrel-cli-cwd-'))
process.on('exit', () => rmSync(cwd, { recursive: true, force: true }))
let built: Promise<void> | undefined

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export type CliResult = { code: number | null; stdout: string; stderr: string; json(): any }

export async function carrel(args: string[], env: Record<string, string>): Promise<CliResult> {
  built ??= run(process.execPath, [join(root, 'scripts', 'build.mjs')], {}).then((r) => {
    if (r.code !== 0) throw new Error(`build failed: ${r.stderr}`)
  })
  await built
  const r = await run(process.execPath, [join(root, 'dist', 'src', 'cli.js'), ...args], env)
  return {
    ...r,
    json() {
      try {
        return JSON.parse(r.stdout)
      } catch {
        throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`)
      }
    },
  }
}
