// Carrel in a child process (src/index.ts through tsx), for tests that must kill it or read
// its own stdout. The port is picked before start so a restart can reuse it.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'

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
  /** everything the process has written to stdout and stderr so far (when `capture` is on) */
  output(): string
}

/** Starts the server with `env` on top of this process's environment and waits for /xrpc/_health. */
export async function startServerProcess(port: number, env: Record<string, string>, opts: { capture?: boolean } = {}): Promise<ServerProcess> {
  let output = ''
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'index.ts')], {
    env: { ...process.env, PDS_HOSTNAME: 'localhost', PDS_PORT: String(port), ...env },
    stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'ignore',
  })
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      if ((await fetch(`http://localhost:${port}/xrpc/_health`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('server did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  return { child, output: () => output }
}

/** Stops the process with `signal` and waits for it to exit. */
export function stopServerProcess(server: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve()
    server.child.once('exit', () => resolve())
    server.child.kill(signal)
  })
}
