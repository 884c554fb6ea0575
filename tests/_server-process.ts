// Carrel in child processes started exactly as `npm start` starts it (scripts/start.mjs compiles
// dist/ first when a source changed, then runs the compiled server under Node 22), for tests
// that must kill it, read its own output or time its start. The port is picked before start so
// a restart can reuse it. npm, the start script and the server share one process group, so a
// signal reaches all of them and a SIGKILL leaves nothing running.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPlc, type Plc } from './_harness.ts'

const root = join(import.meta.dirname, '..')

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

export type ServerProcess = {
  child: ChildProcess
  /** milliseconds from spawning `npm start` (or the command) to the first healthy /xrpc/_health */
  startMs: number
  /** what the processes have written so far: stderr, and stdout when `capture` is on */
  output(): string
}

/**
 * Runs `npm start` with `env` on top of this process's environment and waits for
 * /xrpc/_health (or for the processes to exit: then it throws, with their output).
 */
export async function startServerProcess(
  port: number,
  env: Record<string, string>,
  opts: {
    capture?: boolean
    /** another copy of the project (tests of the build) */
    cwd?: string
    /** instead of `npm start` (benchmarks compare the two) */
    command?: string[]
  } = {},
): Promise<ServerProcess> {
  let output = ''
  const started = performance.now()
  const [command, ...args] = opts.command ?? ['npm', 'start']
  const child = spawn(command!, args, {
    cwd: opts.cwd ?? root,
    env: { ...process.env, npm_config_update_notifier: 'false', PDS_HOSTNAME: 'localhost', PDS_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  child.stdout!.on('data', (d: Buffer) => opts.capture && (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  const deadline = Date.now() + 60_000 // a fresh checkout compiles dist/ first
  for (;;) {
    try {
      if ((await fetch(`http://localhost:${port}/xrpc/_health`)).ok) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopServerProcess({ child, startMs: NaN, output: () => output }, 'SIGKILL')
      throw new Error(`server did not start (exit code ${child.exitCode}):\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  return { child, startMs: performance.now() - started, output: () => output }
}

export type ServerWithPlc = { plc: Plc; dataDir: string; url: string; server: ServerProcess; stop(): Promise<void> }

/**
 * A PLC directory, a fresh data directory (named `<dirPrefix>XXXXXX`) and `npm start` on a free
 * port with both and `env`, its stdout captured; `stop` ends the server and the PLC directory
 * and removes the data directory.
 */
export async function startServerWithPlc(dirPrefix: string, env: Record<string, string>): Promise<ServerWithPlc> {
  const plc = await startPlc()
  const dataDir = mkdtempSync(join(tmpdir(), dirPrefix))
  const port = await freePort()
  const server = await startServerProcess(port, { PDS_DATA_DIRECTORY: dataDir, PDS_DID_PLC_URL: plc.url, ...env }, { capture: true })
  return {
    plc,
    dataDir,
    url: `http://localhost:${port}`,
    server,
    async stop() {
      await stopServerProcess(server)
      await plc.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Whether a process of the group still runs. On Linux a killed process stays a zombie until
 * its new parent reaps it (here PID 1 takes over a second), so /proc is read for live ones.
 */
function groupAlive(pgid: number): boolean {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0)
      return true
    } catch {
      return false
    }
  }
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // after "pid (command) ": state, ppid, pgrp, ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z') return true
  }
  return false
}

/** Sends `signal` to npm, the start script and the server, and waits until all of them have exited. */
export async function stopServerProcess(server: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pgid = server.child.pid!
  if (groupAlive(pgid)) process.kill(-pgid, signal)
  while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 10))
}

/**
 * Runs `npm start` with `env` when the server is expected to refuse to start: its exit code
 * and output. Should it start after all (answer /xrpc/_health), it is stopped and the code is null.
 */
export async function refusedStart(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const port = await freePort()
  let output = ''
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, npm_config_update_notifier: 'false', PDS_HOSTNAME: 'localhost', PDS_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  for (;;) {
    const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 100))])
    if (code !== 'running') return { code, output }
    const healthy = await fetch(`http://localhost:${port}/xrpc/_health`).then(
      (res) => res.ok,
      () => false,
    )
    if (healthy) {
      await stopServerProcess({ child, startMs: NaN, output: () => output }, 'SIGKILL')
      return { code: null, output: output + '\n(the server started)' }
    }
  }
}
