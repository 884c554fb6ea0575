import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { packageRoot } from '../paths.js'
import { serviceJwtSigningInput, signedServiceJwt, signServiceJwt, type Secp256k1Signer } from './service-auth.js'

/** An account's repo signing key, as the mint needs it: it signs here, and its bytes sign in the worker. */
export type MintKey = Secp256k1Signer & { exportPrivateKey(): Uint8Array }

/** What a proxied call's token is for. */
export type TokenFor = { iss: string; aud: string; lxm: string }

/** most tokens signed ahead for one (iss, aud, lxm): at 16 a busy stream often ran dry while its batch was signed */
const MAX_READY = 64
/** a token signed ahead is used within this long of its `iat`, so it has 50 s or more left */
const MAX_AGE_MS = 10_000
/** (iss, aud, lxm) kept at once; the oldest goes first */
const MAX_STREAMS = 256

type Ready = { jwt: string; iat: number }

/** The tokens of one (iss, aud, lxm), and how often it was asked for lately. */
type Stream = {
  key: MintKey
  ready: Ready[]
  /** a batch is being signed */
  pending: boolean
  windowStart: number
  /** calls in the current one-second window, and in the one before */
  calls: number
  lastCalls: number
}

type Batch = { streamId: string; stream: Stream; inputs: string[]; iat: number }

/**
 * Service-auth tokens for forwarded calls (`atproto-proxy`, the AppView...), each fresh and used
 * once: its own jti, iat at most 10 s before the call, exp a minute after its iat. A call that is
 * asked for often (more than once a second for the same account, service and method, as a client
 * paging a timeline does) has its next tokens signed ahead in a worker thread, as many as it was
 * asked for in the last second (up to 64), so that the call itself does not spend its ~45 us of
 * secp256k1 signing on the main thread; any other call, or one that finds none ready, is signed
 * on the spot. If the worker fails, every token is signed on the spot.
 */
export class ServiceTokenMint {
  private readonly streams = new Map<string, Stream>()
  private readonly batches = new Map<number, Batch>()
  private worker: Worker | undefined
  private workerFailed = false
  private nextBatch = 0
  private signedHere = 0
  private signedAhead = 0

  constructor(private readonly opts: { signAhead: boolean } = { signAhead: true }) {}

  token(req: TokenFor, key: MintKey): string {
    const now = Date.now()
    const id = `${req.iss} ${req.aud} ${req.lxm}`
    const stream = this.stream(id, key, now)
    let jwt: string | undefined
    while (jwt === undefined && stream.ready.length > 0) {
      const next = stream.ready.shift()!
      if (now - next.iat <= MAX_AGE_MS) jwt = next.jwt
    }
    if (this.opts.signAhead && !this.workerFailed) this.signAhead(id, stream, req, now)
    if (jwt !== undefined) {
      this.signedAhead++
      return jwt
    }
    this.signedHere++
    return signServiceJwt({ ...req, key })
  }

  /** Tokens handed out so far, by where they were signed, and those signed ahead still waiting. */
  counts(): { signedHere: number; signedAhead: number; ready: number } {
    let ready = 0
    for (const stream of this.streams.values()) ready += stream.ready.length
    return { signedHere: this.signedHere, signedAhead: this.signedAhead, ready }
  }

  /** Stops the worker; tokens are signed on the spot from then on. */
  async close(): Promise<void> {
    this.workerFailed = true
    this.streams.clear()
    this.batches.clear()
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }

  private stream(id: string, key: MintKey, now: number): Stream {
    let stream = this.streams.get(id)
    // a new key (rotated, or the account moved and came back) starts over
    if (!stream || stream.key !== key) {
      this.streams.delete(id)
      if (this.streams.size >= MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!)
      stream = { key, ready: [], pending: false, windowStart: now, calls: 0, lastCalls: 0 }
      this.streams.set(id, stream)
    }
    if (now - stream.windowStart >= 1000) {
      stream.lastCalls = now - stream.windowStart < 2000 ? stream.calls : 0
      stream.calls = 0
      stream.windowStart = now
    }
    stream.calls++
    return stream
  }

  /**
   * Asks the worker for what the stream is short of (its calls of the last second, beyond this
   * one) once it is down to half of that: batches of several tokens, as each message costs
   * about as much as a signature saves.
   */
  private signAhead(streamId: string, stream: Stream, req: TokenFor, now: number): void {
    if (stream.pending) return
    const target = Math.min(MAX_READY, Math.max(stream.calls, stream.lastCalls) - 1)
    if (stream.ready.length > target / 2) return
    const want = target - stream.ready.length
    if (want <= 0) return
    const worker = this.startedWorker()
    if (!worker) return
    const inputs = Array.from({ length: want }, () => serviceJwtSigningInput(req))
    const batch = this.nextBatch++
    this.batches.set(batch, { streamId, stream, inputs, iat: Math.floor(now / 1000) * 1000 })
    stream.pending = true
    worker.postMessage({ id: batch, key: stream.key.exportPrivateKey(), inputs })
  }

  private signed(msg: { id: number; sigs: Uint8Array[] }): void {
    const batch = this.batches.get(msg.id)
    if (!batch) return
    this.batches.delete(msg.id)
    batch.stream.pending = false
    // the stream was dropped or started over with another key meanwhile
    if (this.streams.get(batch.streamId) !== batch.stream) return
    for (let i = 0; i < batch.inputs.length; i++) {
      batch.stream.ready.push({ jwt: signedServiceJwt(batch.inputs[i]!, msg.sigs[i]!), iat: batch.iat })
    }
  }

  private startedWorker(): Worker | undefined {
    if (this.worker) return this.worker
    try {
      const worker = new Worker(join(packageRoot, 'src', 'auth', 'sign-worker.mjs'))
      worker.on('message', (msg: { id: number; sigs: Uint8Array[] }) => this.signed(msg))
      worker.on('error', () => this.stopSigningAhead())
      worker.on('exit', () => this.stopSigningAhead())
      worker.unref()
      this.worker = worker
      return worker
    } catch {
      this.stopSigningAhead()
      return undefined
    }
  }

  private stopSigningAhead(): void {
    this.workerFailed = true
    this.worker = undefined
    for (const batch of this.batches.values()) batch.stream.pending = false
    this.batches.clear()
  }
}
