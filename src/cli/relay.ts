import type { AccountSummary } from './admin.js'
import { Progress } from './progress.js'

const REQUEST_TIMEOUT_MS = 15_000
/** getRepoStatus requests in flight to one relay */
const CONCURRENCY = 8

export type RelayAccount = {
  did: string
  handle: string
  ours: { status: AccountSummary['status']; rev?: string }
  relay: { active?: boolean; status?: string; rev?: string; error?: string }
  /** why this account is listed; accounts without a problem are left out of the report */
  problem: 'behind' | 'unknown-to-relay' | 'inactive' | 'throttled' | 'status-differs' | 'error'
}

export type RelayReport = {
  relay: string
  hostname: string
  /** the relay's com.atproto.sync.getHostStatus for our hostname, or why there is none */
  host: { status?: string; seq?: number; accountCount?: number; error?: string }
  /** our highest firehose seq, when known */
  ourSeq?: number
  /** the relay has not read our firehose up to our latest event */
  hostBehind: boolean
  accountsChecked: number
  accounts: RelayAccount[]
  ok: boolean
}

type Answer<T> = { ok: true; body: T } | { ok: false; error: string; name?: string }

async function get<T>(relay: string, nsid: string, params: Record<string, string>): Promise<Answer<T>> {
  const url = new URL(`/xrpc/${nsid}`, relay)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    const text = await res.text()
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: the status says enough
    }
    if (res.ok) return { ok: true, body: body as T }
    const name = typeof body.error === 'string' ? body.error : undefined
    return { ok: false, name, error: `${res.status}${name ? ` ${name}` : ''}${typeof body.message === 'string' ? `: ${body.message}` : ''}` }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}

/**
 * `carrel relay status`: asks `relay` what it knows of this host (getHostStatus) and of each
 * account (getRepoStatus), and lists the accounts it is behind on (an older rev, or none),
 * holds as inactive or throttled while they are active here, or holds as active while they are not.
 */
export async function relayStatus(
  relay: string,
  hostname: string,
  accounts: AccountSummary[],
  ourSeq: number | undefined,
  opts: { progress?: boolean } = {},
): Promise<RelayReport> {
  const hostAnswer = await get<{ status?: string; seq?: number; accountCount?: number }>(relay, 'com.atproto.sync.getHostStatus', { hostname })
  const host = hostAnswer.ok
    ? { status: hostAnswer.body.status, seq: hostAnswer.body.seq, accountCount: hostAnswer.body.accountCount }
    : { error: hostAnswer.error }
  const hostBehind = ourSeq !== undefined && typeof host.seq === 'number' && host.seq < ourSeq
  const progress = new Progress(`relay ${relay}`, accounts.length, opts.progress)
  const found: RelayAccount[] = []
  let next = 0
  let done = 0
  async function worker() {
    while (next < accounts.length) {
      const account = accounts[next++]!
      const problem = await checkAccount(relay, account)
      if (problem) found.push(problem)
      progress.update(++done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, accounts.length) }, worker))
  progress.done()
  found.sort((a, b) => a.did.localeCompare(b.did))
  return {
    relay,
    hostname,
    host,
    ...(ourSeq !== undefined ? { ourSeq } : {}),
    hostBehind,
    accountsChecked: accounts.length,
    accounts: found,
    ok: hostAnswer.ok && host.status === 'active' && !hostBehind && found.length === 0,
  }
}

async function checkAccount(relay: string, account: AccountSummary): Promise<RelayAccount | undefined> {
  const ours = { status: account.status, ...(account.rev ? { rev: account.rev } : {}) }
  const base = { did: account.did, handle: account.handle, ours }
  const answer = await get<{ active?: boolean; status?: string; rev?: string }>(relay, 'com.atproto.sync.getRepoStatus', { did: account.did })
  if (!answer.ok) {
    const unknown = answer.name === 'RepoNotFound'
    if (unknown && account.status !== 'active') return undefined
    return { ...base, relay: { error: answer.error }, problem: unknown ? 'unknown-to-relay' : 'error' }
  }
  const theirs = answer.body
  const relayView = { ...(theirs.active !== undefined ? { active: theirs.active } : {}), ...(theirs.status ? { status: theirs.status } : {}), ...(theirs.rev ? { rev: theirs.rev } : {}) }
  if (account.status === 'active') {
    if (theirs.status === 'throttled') return { ...base, relay: relayView, problem: 'throttled' }
    if (theirs.active === false) return { ...base, relay: relayView, problem: 'inactive' }
    // revs are TIDs: in time order as strings
    if (account.rev && (!theirs.rev || theirs.rev < account.rev)) return { ...base, relay: relayView, problem: 'behind' }
    return undefined
  }
  if (theirs.active !== false) return { ...base, relay: relayView, problem: 'status-differs' }
  return undefined
}

