// Test helpers for the firehose: a raw `ws` subscriber that decodes every frame on its own
// (header + body, two DAG-CBOR objects) and a Sync 1.1 checker built on @atproto/repo.
import { WebSocket } from 'ws'
import { decodeAll } from '@atproto/lex-cbor'
import { IdResolver } from '@atproto/identity'
import { Firehose, type Event } from '@atproto/sync'
import { MemoryBlockstore, MST, readCarWithRoot, verifyCommitSig } from '@atproto/repo'
import type { Commit } from '@atproto/repo'

export type Frame = {
  header: { op: number; t?: string }
  body: Record<string, any>
  bytes: Uint8Array
}

export function decodeFrame(bytes: Uint8Array): Frame {
  const values = [...decodeAll(bytes)] as any[]
  if (values.length !== 2) throw new Error(`frame holds ${values.length} CBOR objects, expected 2`)
  return { header: values[0], body: values[1], bytes }
}

/** Frames about `did`: its own events (`did`) and its commits and syncs (`repo`). */
export const ofDid = (did: string) => (f: Frame) => f.body.did === did || f.body.repo === did

/** The #identity frames of `did`. */
export const identityOf = (did: string) => (f: Frame) => f.header.t === '#identity' && f.body.did === did

export function wsUrl(httpUrl: string, cursor?: number | string): string {
  const base = httpUrl.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos'
  return cursor === undefined ? base : `${base}?cursor=${cursor}`
}

/** A raw subscriber: collects decoded frames; `next`/`waitFor` wait for them. */
export class RawSubscriber {
  frames: Frame[] = []
  closed: Promise<{ code: number; reason: string }>
  opened: Promise<void>
  private waiters: (() => void)[] = []
  closeInfo: { code: number; reason: string } | undefined
  ws: WebSocket
  /** called for every decoded frame as it arrives */
  onFrame: ((f: Frame) => void) | undefined

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        resolve(this.closeInfo)
        this.wake()
      })
    })
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) throw new Error('text frame on subscribeRepos')
      const f = decodeFrame(new Uint8Array(data as Buffer))
      this.frames.push(f)
      this.onFrame?.(f)
      this.wake()
    })
  }

  static async connect(httpUrl: string, cursor?: number | string): Promise<RawSubscriber> {
    const sub = new RawSubscriber(wsUrl(httpUrl, cursor))
    await sub.opened
    return sub
  }

  /** A subscriber that has seen every event so far: it gets only what comes next. */
  static fromNow(net: { url: string; pds: { ctx: { sequencer: { currentSeq(): number } } } }): Promise<RawSubscriber> {
    return RawSubscriber.connect(net.url, net.pds.ctx.sequencer.currentSeq())
  }

  private wake() {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }

  /** Resolves when `pred(frames)` holds; rejects after `timeoutMs` or on close without it. */
  async waitFor(pred: (frames: Frame[]) => boolean, timeoutMs = 10_000, what = 'frames'): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (pred(this.frames)) return this.frames
      if (this.closeInfo) throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) waiting for ${what}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${what}; have ${this.frames.length} frames`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  /** Frames with a seq, i.e. persisted events. */
  events(): Frame[] {
    return this.frames.filter((f) => f.header.op === 1 && typeof f.body.seq === 'number')
  }

  waitForSeq(seq: number, timeoutMs = 10_000) {
    return this.waitFor((fs) => fs.some((f) => f.body.seq >= seq), timeoutMs, `seq ${seq}`)
  }

  close() {
    this.ws.close()
    return this.closed
  }
}

const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/

/**
 * Checks frames like a strict relay would (spec-notes §2): header and body fields per type,
 * seq strictly increasing, and for #commit: the CAR slice, the signed commit, ops rules,
 * rev/since chain, prevData chain and MST inversion back to prevData.
 */
export class StreamChecker {
  lastSeq = 0
  repos = new Map<string, { rev: string; data: string }>()
  counts: Record<string, number> = {}
  idResolver: IdResolver

  constructor(plcUrl: string) {
    this.idResolver = new IdResolver({ plcUrl, fetch: globalThis.fetch })
  }

  async check(f: Frame): Promise<void> {
    const { header, body } = f
    if (header.op !== 1) throw new Error(`unexpected op ${header.op}: ${JSON.stringify(body)}`)
    if (header.t === '#info') return
    if (typeof body.seq !== 'number' || !Number.isSafeInteger(body.seq) || body.seq <= 0) throw new Error('bad seq')
    if (body.seq <= this.lastSeq) throw new Error(`seq ${body.seq} after ${this.lastSeq}: not strictly increasing`)
    this.lastSeq = body.seq
    if ('$type' in body) throw new Error('body carries $type')
    if (typeof body.time !== 'string' || Number.isNaN(Date.parse(body.time))) throw new Error('bad time')
    this.counts[header.t!] = (this.counts[header.t!] ?? 0) + 1
    switch (header.t) {
      case '#commit':
        return this.checkCommit(body)
      case '#sync':
        return this.checkSync(body)
      case '#identity':
        if (typeof body.did !== 'string' || !body.did.startsWith('did:')) throw new Error('#identity without did')
        return
      case '#account':
        if (typeof body.did !== 'string' || typeof body.active !== 'boolean') throw new Error('bad #account')
        return
      default:
        throw new Error(`unknown event type ${header.t}`)
    }
  }

  private async checkSync(body: Record<string, any>) {
    const car = await readCarWithRoot(body.blocks)
    if (car.blocks.size !== 1) throw new Error(`#sync CAR holds ${car.blocks.size} blocks, expected only the commit`)
    const commit = decodeCommit(car.blocks.get(car.root)!)
    if (commit.did !== body.did || commit.rev !== body.rev) throw new Error('#sync did/rev do not match the commit')
    const key = await this.idResolver.did.resolveAtprotoKey(body.did)
    if (!(await verifyCommitSig(commit, key))) throw new Error('#sync commit signature invalid')
    const prev = this.repos.get(body.did)
    if (prev && prev.rev > body.rev) throw new Error('#sync goes back in rev')
    this.repos.set(body.did, { rev: body.rev, data: commit.data.toString() })
  }

  private async checkCommit(body: Record<string, any>) {
    for (const k of ['seq', 'rebase', 'tooBig', 'repo', 'commit', 'rev', 'since', 'blocks', 'ops', 'blobs', 'time']) {
      if (!(k in body)) throw new Error(`#commit lacks ${k}`)
    }
    if (body.rebase !== false || body.tooBig !== false) throw new Error('rebase/tooBig must be false')
    if (!Array.isArray(body.blobs) || body.blobs.length !== 0) throw new Error('blobs must be []')
    if (!TID_RE.test(body.rev)) throw new Error(`bad rev ${body.rev}`)
    if (body.ops.length > 200) throw new Error('more than 200 ops')
    if (body.blocks.byteLength > 2_000_000) throw new Error('blocks over 2,000,000 bytes')

    const car = await readCarWithRoot(body.blocks)
    if (!car.root.equals(body.commit)) throw new Error('CAR root is not the commit')
    const commitBytes = car.blocks.get(body.commit)
    if (!commitBytes) throw new Error('commit block missing from CAR')
    const commit = decodeCommit(commitBytes)
    if (commit.version !== 3) throw new Error('commit version is not 3')
    if (commit.did !== body.repo) throw new Error('repo does not match commit did')
    if (commit.rev !== body.rev) throw new Error('rev does not match commit rev')
    const key = await this.idResolver.did.resolveAtprotoKey(body.repo)
    if (!(await verifyCommitSig(commit, key))) throw new Error('commit signature invalid')

    const prev = this.repos.get(body.repo)
    if (prev) {
      if (body.since !== prev.rev) throw new Error(`since ${body.since} is not the previous rev ${prev.rev}`)
      if (!(body.rev > prev.rev)) throw new Error('rev does not increase')
      if (!body.prevData) throw new Error('prevData missing')
      if (body.prevData.toString() !== prev.data) throw new Error('prevData is not the previous data root')
    }

    const paths = new Set<string>()
    for (const op of body.ops) {
      if (!('cid' in op)) throw new Error('op without cid key')
      if (paths.has(op.path)) throw new Error(`duplicate path ${op.path}`)
      paths.add(op.path)
      if (op.action === 'create') {
        if (!op.cid || 'prev' in op) throw new Error('create needs cid and no prev')
      } else if (op.action === 'update') {
        if (!op.cid || !op.prev) throw new Error('update needs cid and prev')
      } else if (op.action === 'delete') {
        if (op.cid !== null || !op.prev) throw new Error('delete needs cid null and prev')
      } else throw new Error(`bad action ${op.action}`)
      if (op.cid && !car.blocks.has(op.cid)) throw new Error(`record block ${op.cid} missing`)
    }

    // inversion: undo every op on the partial tree, the root must come back to prevData
    if (body.prevData) {
      let mst = MST.load(new MemoryBlockstore(car.blocks), commit.data)
      for (const op of body.ops) {
        if (op.action === 'create') mst = await mst.delete(op.path)
        else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
        else mst = await mst.add(op.path, op.prev)
      }
      const root = await mst.getPointer()
      if (!root.equals(body.prevData)) throw new Error(`inverted root ${root} != prevData ${body.prevData}`)
    } else if (prev) {
      throw new Error('prevData missing')
    } else if (body.ops.length > 0) {
      // first commit seen for this repo: only the very first (empty) commit may lack prevData
      throw new Error('a commit with ops lacks prevData')
    }
    this.repos.set(body.repo, { rev: body.rev, data: commit.data.toString() })
  }
}

function decodeCommit(bytes: Uint8Array): Commit {
  const values = [...decodeAll(bytes)] as any[]
  return values[0] as Commit
}

export function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `cond` every 20 ms until it holds; throws "timed out: <what>" after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}

/**
 * @atproto/sync's Firehose client against our server, verifying signatures and proofs with a
 * resolver on the test's PLC directory; what it delivers and reports is collected. `getCursor`
 * as its cursor store answers (null: a store with nothing in it).
 */
export function startSyncFirehose(
  net: { url: string; plc: { url: string } },
  getCursor: () => number | null,
): { events: Event[]; errors: Error[]; stop(): Promise<void> } {
  const events: Event[] = []
  const errors: Error[] = []
  const firehose = new Firehose({
    idResolver: new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch }),
    service: net.url.replace(/^http/, 'ws'),
    getCursor: getCursor as () => number | undefined,
    handleEvent: (evt) => {
      events.push(evt)
    },
    onError: (err) => {
      errors.push(err)
    },
    unauthenticatedHandles: true,
  })
  const running = firehose.start()
  return {
    events,
    errors,
    async stop() {
      await firehose.destroy()
      await running
    },
  }
}
