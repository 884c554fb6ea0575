import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { Readable } from 'node:stream'
import type { AccountDetail, AccountSummary, Admin, ExportResult } from './admin.js'
import { writeStreamToFile } from './atomic-file.js'
import { CliError, EXIT } from './exit-codes.js'
import { lastSequencedSeq } from '../firehose/sequencer.js'

const REPO_REF = 'com.atproto.admin.defs#repoRef'
const REQUEST_TIMEOUT_MS = 30_000

type Params = Record<string, string | number | string[] | undefined>

type AccountView = { did: string; handle: string; email?: string; indexedAt: string; deactivatedAt?: string; invitesDisabled?: boolean; invites?: InviteView[] }
type InviteView = { code: string; available: number; disabled: boolean; uses: unknown[] }
type RepoListing = { did: string; rev: string; active?: boolean; status?: string }

/** Whether a Carrel server answers at `url` (its /xrpc/_health). */
export async function serverAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/xrpc/_health', url), { signal: AbortSignal.timeout(3000) })
    await res.arrayBuffer()
    return res.ok
  } catch {
    return false
  }
}

/** XRPC calls to a server, with the admin's HTTP Basic credentials when there are some. */
export class XrpcClient {
  constructor(
    readonly url: string,
    private adminPassword?: string,
  ) {}

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {}
    if (this.adminPassword !== undefined) h.authorization = 'Basic ' + Buffer.from(`admin:${this.adminPassword}`).toString('base64')
    if (json) h['content-type'] = 'application/json'
    return h
  }

  private endpoint(nsid: string, params: Params = {}): URL {
    const u = new URL(`/xrpc/${nsid}`, this.url)
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue
      for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(item))
    }
    return u
  }

  async query<T>(nsid: string, params?: Params): Promise<T> {
    return this.answer<T>(nsid, await this.send(this.endpoint(nsid, params), { headers: this.headers(false) }))
  }

  async procedure<T>(nsid: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method: 'POST', headers: this.headers(body !== undefined) }
    if (body !== undefined) init.body = JSON.stringify(body)
    return this.answer<T>(nsid, await this.send(this.endpoint(nsid), init))
  }

  /** A query whose body is streamed (getRepo): the response, once its status is OK. */
  async stream(nsid: string, params: Params): Promise<Response> {
    const res = await this.send(this.endpoint(nsid, params), { headers: this.headers(false) })
    if (!res.ok) await this.answer(nsid, res)
    return res
  }

  private async send(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    } catch (err) {
      throw new CliError(`no answer from ${this.url}: ${(err as Error).message}`, EXIT.unavailable)
    }
  }

  private async answer<T>(nsid: string, res: Response): Promise<T> {
    const text = await res.text()
    let body: { error?: string; message?: string } | undefined
    try {
      body = text ? JSON.parse(text) : {}
    } catch {
      body = undefined
    }
    if (res.ok) return body as T
    const name = body?.error
    let message = `${nsid}: ${res.status} ${name ?? ''}${body?.message ? `: ${body.message}` : ''}`.replace(/ +:/, ':')
    if (res.status === 401 && this.adminPassword === undefined) message += ' (no admin password: set PDS_ADMIN_PASSWORD)'
    throw new CliError(message, EXIT.failed, name)
  }
}

/** The account commands through the running server's admin API (com.atproto.admin.*). */
export class ServerAdmin implements Admin {
  constructor(
    readonly client: XrpcClient,
    /** the server's database on this machine, for its latest seq (no XRPC method tells it) */
    private dbPath?: string,
  ) {}

  async resolve(account: string): Promise<string> {
    const notFound = () => new CliError(`Account not found: ${account}`, EXIT.failed, 'AccountNotFound')
    if (account.startsWith('did:')) {
      try {
        await this.client.query('com.atproto.admin.getAccountInfo', { did: account })
      } catch (err) {
        // getAccountInfo's name for it is NotFound (the reference's); every other command says AccountNotFound
        if (err instanceof CliError && err.error === 'NotFound') throw notFound()
        throw err
      }
      return account
    }
    try {
      const { did } = await this.client.query<{ did: string }>('com.atproto.identity.resolveHandle', { handle: account })
      return did
    } catch (err) {
      if (!(err instanceof CliError && err.code === EXIT.failed)) throw err
    }
    // a taken-down account's handle does not resolve (as the reference): find it among the accounts
    const handle = account.toLowerCase()
    const repos = await this.allRepos()
    for (const view of (await this.views(repos.map((r) => r.did))).values()) {
      if (view.handle === handle) return view.did
    }
    throw notFound()
  }

  private async allRepos(): Promise<RepoListing[]> {
    const repos: RepoListing[] = []
    let cursor: string | undefined
    do {
      const page = await this.client.query<{ repos: RepoListing[]; cursor?: string }>('com.atproto.sync.listRepos', { limit: 1000, cursor })
      repos.push(...page.repos)
      cursor = page.repos.length > 0 ? page.cursor : undefined
    } while (cursor)
    return repos
  }

  private async views(dids: string[]): Promise<Map<string, AccountView>> {
    const out = new Map<string, AccountView>()
    for (let i = 0; i < dids.length; i += 100) {
      const { infos } = await this.client.query<{ infos: AccountView[] }>('com.atproto.admin.getAccountInfos', { dids: dids.slice(i, i + 100) })
      for (const v of infos) out.set(v.did, v)
    }
    return out
  }

  async listAccounts(): Promise<AccountSummary[]> {
    const repos = await this.allRepos()
    const views = await this.views(repos.map((r) => r.did))
    return repos.flatMap((r) => {
      const v = views.get(r.did)
      if (!v) return []
      return [summary(v, r)]
    })
  }

  async accountInfo(did: string): Promise<AccountDetail> {
    const view = await this.client.query<AccountView>('com.atproto.admin.getAccountInfo', { did })
    const subject = await this.client.query<{ takedown?: { applied: boolean; ref?: string } }>('com.atproto.admin.getSubjectStatus', { did })
    const repo = await this.client.query<RepoListing>('com.atproto.sync.getRepoStatus', { did })
    const takedownRef = subject.takedown?.applied ? subject.takedown.ref : undefined
    return {
      ...summary(view, repo),
      ...(view.deactivatedAt ? { deactivatedAt: view.deactivatedAt } : {}),
      ...(takedownRef ? { takedownRef } : {}),
      invitesDisabled: view.invitesDisabled === true,
      invites: (view.invites ?? []).map((i) => ({ code: i.code, available: i.available, uses: i.uses.length, disabled: i.disabled })),
    }
  }

  async createAccount(input: { handle: string; email: string; password: string }): Promise<{ did: string; handle: string }> {
    const server = await this.client.query<{ inviteCodeRequired?: boolean }>('com.atproto.server.describeServer')
    let inviteCode: string | undefined
    if (server.inviteCodeRequired) inviteCode = await this.createInvite(1)
    const created = await this.client.procedure<{ did: string; handle: string }>('com.atproto.server.createAccount', { ...input, ...(inviteCode ? { inviteCode } : {}) })
    return { did: created.did, handle: created.handle }
  }

  async setDeactivated(did: string, deactivated: boolean): Promise<void> {
    await this.client.procedure('com.atproto.admin.updateSubjectStatus', { subject: { $type: REPO_REF, did }, deactivated: { applied: deactivated } })
  }

  async setTakedown(did: string, applied: boolean, ref?: string): Promise<void> {
    const takedown = applied && ref ? { applied, ref } : { applied }
    await this.client.procedure('com.atproto.admin.updateSubjectStatus', { subject: { $type: REPO_REF, did }, takedown })
  }

  async deleteAccount(did: string): Promise<void> {
    await this.client.procedure('com.atproto.admin.deleteAccount', { did })
  }

  async setPassword(did: string, password: string): Promise<void> {
    await this.client.procedure('com.atproto.admin.updateAccountPassword', { did, password })
  }

  async createInvite(uses: number): Promise<string> {
    const { code } = await this.client.procedure<{ code: string }>('com.atproto.server.createInviteCode', { useCount: uses })
    return code
  }

  async exportRepo(did: string, file: string): Promise<ExportResult> {
    const res = await this.client.stream('com.atproto.sync.getRepo', { did })
    if (!res.body) throw new CliError('com.atproto.sync.getRepo: empty response')
    const bytes = await writeStreamToFile(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), file)
    return { did, file, bytes }
  }

  async announce(did: string): Promise<void> {
    // neither takedown nor deactivated: the server says again what the account is
    await this.client.procedure('com.atproto.admin.updateSubjectStatus', { subject: { $type: REPO_REF, did } })
  }

  async latestSeq(): Promise<number | undefined> {
    if (!this.dbPath || !existsSync(this.dbPath)) return undefined
    try {
      // a read beside the running server (WAL): nothing is locked or written
      const db = new Database(this.dbPath, { readonly: true, fileMustExist: true })
      try {
        return lastSequencedSeq(db)
      } finally {
        db.close()
      }
    } catch {
      return undefined
    }
  }

  async close(): Promise<void> {}
}

function summary(v: AccountView, repo: RepoListing): AccountSummary {
  const status = (repo.active === false ? (repo.status ?? 'deactivated') : 'active') as AccountSummary['status']
  return {
    did: v.did,
    handle: v.handle,
    email: v.email ?? '',
    createdAt: v.indexedAt,
    status,
    ...(repo.rev ? { rev: repo.rev } : {}),
  }
}
