// Starts Carrel in a child process (embedded PLC, temp data directory) so that the benchmark
// client and the server do not share a core, and reads the server's RSS from /proc.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type BenchServer = {
  url: string
  pid: number
  /** the server's data directory (its SQLite database and WAL are `carrel.sqlite*`) */
  dataDir: string
  /** current and peak resident set size in MB, and the current anonymous part of it */
  rss(): { currentMb: number; peakMb: number; anonMb: number }
  /** CPU time (user + system) the server process has used so far, in ms (10 ms resolution) */
  cpuMs(): number
  /**
   * CPU time the server's live threads have run so far, in ns (the scheduler's own count, exact
   * where cpuMs counts 10 ms ticks); threads that already exited are not in it.
   */
  cpuNs(): number
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

export function readCpuMs(pid: number): number {
  // fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return ticks * 10 // USER_HZ is 100 on Linux
}

function readCpuNs(pid: number): number {
  let ns = 0
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // the thread exited meanwhile
    }
  }
  return ns
}

/** A kB field of /proc/<pid>/status (VmRSS, VmHWM, RssAnon); 0 once the process has exited. */
export function readStatusKb(pid: number, field: string): number {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch (err) {
    // bench/updates polls workers and commands that may exit between two samples
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ESRCH') return 0
    throw err
  }
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
}

/**
 * A PLC directory in the benchmark's own process, like the test harness's: the server's RSS
 * then measures Carrel alone, as a deployment with the public PLC directory would run it.
 */
async function startPlc(): Promise<{ url: string; close(): Promise<void> }> {
  const plcServer = await import('@did-plc/server')
  const server = plcServer.PlcServer.create({ db: plcServer.Database.mock(), port: 0 })
  const http = await server.start()
  return { url: `http://localhost:${(http.address() as { port: number }).port}`, close: () => server.destroy() }
}

/** The V8 flags `npm start` uses, then BENCH_NODE_ARGS (after them, so they can override one). */
export function serverNodeFlags(): string[] {
  return ['--max-semi-space-size=8', '--heap-growing-percent=50', '--v8-pool-size=1', ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)]
}

export async function startBenchServer(extraEnv: Record<string, string> = {}): Promise<BenchServer> {
  const plc = await startPlc()
  const dataDir = mkdtempSync(join(tmpdir(), 'carrel-bench-'))
  const port = await freePort()
  // the compiled server (npm run bench builds it first)
  const flags = serverNodeFlags()
  const entry = process.env.BENCH_SERVER_ENTRY ?? join(import.meta.dirname, '..', 'dist', 'src', 'index.js')
  const child: ChildProcess = spawn(process.execPath, [...flags, entry], {
    env: {
      MALLOC_ARENA_MAX: '2', // as `npm start` (scripts/runtime.mjs) and the Docker image run it
      ...process.env,
      PDS_HOSTNAME: 'localhost',
      PDS_PORT: String(port),
      PDS_DID_PLC_URL: plc.url,
      PDS_DATA_DIRECTORY: dataDir,
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const url = `http://localhost:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const res = await fetch(`${url}/xrpc/_health`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('bench server did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    pid: child.pid!,
    dataDir,
    rss: () => ({
      currentMb: readStatusKb(child.pid!, 'VmRSS') / 1024,
      peakMb: readStatusKb(child.pid!, 'VmHWM') / 1024,
      // without the file pages mapped in (SQLite's mmap of the database counts in VmRSS)
      anonMb: readStatusKb(child.pid!, 'RssAnon') / 1024,
    }),
    cpuMs: () => readCpuMs(child.pid!),
    cpuNs: () => readCpuNs(child.pid!),
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      await plc.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export type Session = { did: string; accessJwt: string }

export async function createAccount(url: string, name: string): Promise<Session> {
  const res = await fetch(`${url}/xrpc/com.atproto.server.createAccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle: `${name}.test`, email: `${name}@bench.test`, password: 'bench-password-123' }),
  })
  if (!res.ok) throw new Error(`createAccount: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { did: string; accessJwt: string }
  return { did: body.did, accessJwt: body.accessJwt }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Microseconds per call of `fn`: `iterations` calls of warm-up, then the median of `runs` runs of `iterations` calls. */
export function microsPerCall(fn: () => void, runs: number, iterations: number): number {
  for (let i = 0; i < iterations; i++) fn()
  const perRun: number[] = []
  for (let r = 0; r < runs; r++) {
    const start = performance.now()
    for (let i = 0; i < iterations; i++) fn()
    perRun.push(((performance.now() - start) * 1000) / iterations)
  }
  return median(perRun)
}
