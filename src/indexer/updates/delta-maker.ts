import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { KeyedLock } from '../../keyed-lock.js'
import { packageRoot } from '../../paths.js'

export type DeltaJob = { oldPath: string; newPath: string; outPath: string }

export type DeltaMade = {
  /** the patch's size in bytes */
  size: number
  segments: number
  /** what the patch gives when applied to the old file */
  result: { size: number; sha256: string }
  makeMs: number
  verifyMs: number
  /** the worker process's peak resident set size */
  peakRssBytes: number
}

// plain JavaScript kept in the source tree: the same file whether we run from src/ or dist/
const WORKER = join(packageRoot, 'src', 'indexer', 'updates', 'delta', 'delta-worker.mjs')

/**
 * Makes delta patches one at a time, each in a child process of its own (delta-worker.mjs):
 * Node's zstd contexts are freed only when the garbage collector gets to them, so the worker
 * collects after every segment (--expose-gc), and the memory it used goes back to the system
 * when it exits instead of staying in the server's heap.
 */
export class DeltaMaker {
  private readonly oneAtATime = new KeyedLock()
  private readonly running = new Set<ChildProcess>()
  private closed = false

  make(job: DeltaJob): Promise<DeltaMade> {
    return this.oneAtATime.run('delta', () => this.run(job))
  }

  private run(job: DeltaJob): Promise<DeltaMade> {
    if (this.closed) return Promise.reject(new Error('the server is shutting down'))
    return new Promise((resolve, reject) => {
      const child = fork(WORKER, [], {
        execArgv: ['--expose-gc'],
        // one malloc arena: zstd runs on libuv's threads, and an arena per thread kept ~15 MB more
        // of freed contexts resident (the worker's peak for a 50 MB artifact: ~78 MB with one
        // arena, ~93 MB with two, ~120 MB with glibc's default)
        // and nothing else of the server's environment: the worker needs none of its secrets
        env: { MALLOC_ARENA_MAX: '1', ...(process.env.PATH ? { PATH: process.env.PATH } : {}) },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'json',
      })
      this.running.add(child)
      let stderr = ''
      let reply: ({ ok: true } & DeltaMade) | { ok: false; error: string } | undefined
      child.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString()
      })
      child.once('message', (m) => {
        reply = m as typeof reply
      })
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        this.running.delete(child)
        if (reply?.ok) resolve(reply)
        else if (reply) reject(new Error(reply.error))
        else reject(new Error(`the delta worker exited (${signal ?? code}) without an answer: ${stderr.trim().slice(0, 500)}`))
      })
      child.send(job)
    })
  }

  /** Stops the worker that is running, if any; later jobs are refused. */
  close(): void {
    this.closed = true
    for (const child of this.running) child.kill('SIGKILL')
  }
}
