import { randomBytes } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Db } from '../db/index.js'

export type InviteCodeRow = {
  code: string
  available_uses: number
  disabled: number
  for_account: string
  created_by: string
  created_at: string
}

/** `com.atproto.server.defs#inviteCode` */
export type InviteCodeView = {
  code: string
  available: number
  disabled: boolean
  forAccount: string
  createdBy: string
  createdAt: string
  uses: { usedBy: string; usedAt: string }[]
}

/** Why an invite code cannot be used, or null when it can. */
export type InviteProblem = 'unknown' | 'disabled' | 'exhausted' | null

export type InviteSort = 'recent' | 'usage'

/** The most codes one createInviteCodes call makes per account, and the most accounts it names. */
const MAX_CODES_PER_CALL = 1000
const MAX_ACCOUNTS_PER_CALL = 100

type RowWithUses = InviteCodeRow & { uses: number }

/** getInviteCodes' cursor: `<primary>::<code>`, primary = creation time in ms or the use count. */
function parseCursor(cursor: string, sort: InviteSort): [string | number, string] {
  const parts = cursor.split('::')
  const n = Number(parts[0])
  if (parts.length !== 2 || !parts[1] || !/^\d+$/.test(parts[0] ?? '') || !Number.isSafeInteger(n)) {
    throw new InvalidRequestError('Malformed cursor')
  }
  if (sort === 'usage') return [n, parts[1]]
  const time = new Date(n)
  if (Number.isNaN(time.getTime())) throw new InvalidRequestError('Malformed cursor')
  return [time.toISOString(), parts[1]]
}

/** The invite_code and invite_code_use tables. */
export class InviteStore {
  private checkStmt
  private usesStmt
  private insertStmt
  private useStmt
  private usesOfStmt
  private ofAccountsStmt
  private invitedByStmt
  private disableCodesStmt
  private disableAccountsStmt
  private pageStmts: Record<InviteSort, { first: Statement<[number], RowWithUses>; after: Statement<[string | number, string, number], RowWithUses> }>

  constructor(private db: Db) {
    const s = db.sqlite
    // a code given to an account that is taken down is not usable (as in the reference)
    this.checkStmt = s.prepare<[string], InviteCodeRow & { taken_down: number }>(
      `SELECT c.*, (a.takedown_ref IS NOT NULL) AS taken_down
       FROM invite_code c LEFT JOIN account a ON a.did = c.for_account WHERE c.code = ?`,
    )
    this.usesStmt = s.prepare<[string], { n: number }>('SELECT count(*) AS n FROM invite_code_use WHERE code = ?')
    this.insertStmt = s.prepare(
      `INSERT INTO invite_code (code, available_uses, disabled, for_account, created_by, created_at)
       VALUES (@code, @available_uses, @disabled, @for_account, @created_by, @created_at)`,
    )
    this.useStmt = s.prepare<[string, string, string]>('INSERT INTO invite_code_use (code, used_by, used_at) VALUES (?, ?, ?)')
    // lists go in as one JSON array parameter: no limit on how many, one prepared statement
    this.usesOfStmt = s.prepare<[string], { code: string; used_by: string; used_at: string }>(
      `SELECT code, used_by, used_at FROM invite_code_use
       WHERE code IN (SELECT value FROM json_each(?)) ORDER BY used_at DESC, used_by`,
    )
    this.ofAccountsStmt = s.prepare<[string], InviteCodeRow>(
      `SELECT * FROM invite_code WHERE for_account IN (SELECT value FROM json_each(?)) ORDER BY created_at DESC, code DESC`,
    )
    this.invitedByStmt = s.prepare<[string], InviteCodeRow & { used_by: string }>(
      `SELECT c.*, u.used_by FROM invite_code_use u JOIN invite_code c ON c.code = u.code
       WHERE u.used_by IN (SELECT value FROM json_each(?))`,
    )
    this.disableCodesStmt = s.prepare<[string]>('UPDATE invite_code SET disabled = 1 WHERE code IN (SELECT value FROM json_each(?))')
    this.disableAccountsStmt = s.prepare<[string]>(
      'UPDATE invite_code SET disabled = 1 WHERE for_account IN (SELECT value FROM json_each(?))',
    )
    const withUses = `SELECT * FROM (SELECT c.*, (SELECT count(*) FROM invite_code_use u WHERE u.code = c.code) AS uses FROM invite_code c)`
    this.pageStmts = {
      recent: {
        first: s.prepare(`SELECT c.*, (SELECT count(*) FROM invite_code_use u WHERE u.code = c.code) AS uses
          FROM invite_code c ORDER BY created_at DESC, code DESC LIMIT ?`),
        after: s.prepare(`SELECT c.*, (SELECT count(*) FROM invite_code_use u WHERE u.code = c.code) AS uses
          FROM invite_code c WHERE (created_at, code) < (?, ?) ORDER BY created_at DESC, code DESC LIMIT ?`),
      },
      usage: {
        first: s.prepare(`${withUses} ORDER BY uses DESC, code DESC LIMIT ?`),
        after: s.prepare(`${withUses} WHERE (uses, code) < (?, ?) ORDER BY uses DESC, code DESC LIMIT ?`),
      },
    }
  }

  static generateCode(hostname: string): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    const part = () => Array.from(randomBytes(5), (b) => alphabet[b & 31]).join('')
    return `${hostname.replace(/\./g, '-')}-${part()}-${part()}`
  }

  /** A new code for `useCount` accounts, made by the admin. */
  issue(useCount: number, forAccount: string, hostname: string): string {
    return this.issueMany([forAccount], 1, useCount, hostname)[0]!.codes[0]!
  }

  /** createInviteCodes: `codeCount` codes for each account, made by the admin, in one transaction. */
  issueMany(forAccounts: string[], codeCount: number, useCount: number, hostname: string): { account: string; codes: string[] }[] {
    if (!Number.isSafeInteger(useCount) || useCount < 1) throw new InvalidRequestError('useCount must be at least 1')
    if (!Number.isSafeInteger(codeCount) || codeCount < 1) throw new InvalidRequestError('codeCount must be at least 1')
    if (codeCount > MAX_CODES_PER_CALL) throw new InvalidRequestError(`codeCount must be at most ${MAX_CODES_PER_CALL}`)
    if (forAccounts.length > MAX_ACCOUNTS_PER_CALL) throw new InvalidRequestError(`forAccounts must name at most ${MAX_ACCOUNTS_PER_CALL} accounts`)
    const made = forAccounts.map((account) => ({ account, codes: Array.from({ length: codeCount }, () => InviteStore.generateCode(hostname)) }))
    const createdAt = new Date().toISOString()
    this.db.sqlite
      .transaction(() => {
        for (const { account, codes } of made) {
          for (const code of codes) this.insert({ code, useCount, forAccount: account, createdBy: 'admin', createdAt, disabled: false })
        }
      })
      .immediate()
    return made
  }

  private insert(o: { code: string; useCount: number; forAccount: string; createdBy: string; createdAt: string; disabled: boolean }): void {
    this.insertStmt.run({
      code: o.code,
      available_uses: o.useCount,
      disabled: o.disabled ? 1 : 0,
      for_account: o.forAccount,
      created_by: o.createdBy,
      created_at: o.createdAt,
    })
  }

  check(code: string): InviteProblem {
    const row = this.checkStmt.get(code)
    if (!row) return 'unknown'
    if (row.disabled || row.taken_down) return 'disabled'
    if (this.usesStmt.get(code)!.n >= row.available_uses) return 'exhausted'
    return null
  }

  /** Call inside the account-creation transaction: re-checks, then records the use. */
  useInTx(code: string, usedBy: string): InviteProblem {
    const problem = this.check(code)
    if (problem) return problem
    this.useStmt.run(code, usedBy, new Date().toISOString())
    return null
  }

  /** disableInviteCodes: the codes named, and every code of the accounts named. */
  disable(opts: { codes: string[]; accounts: string[] }): void {
    this.db.sqlite
      .transaction(() => {
        if (opts.codes.length > 0) this.disableCodesStmt.run(JSON.stringify(opts.codes))
        if (opts.accounts.length > 0) this.disableAccountsStmt.run(JSON.stringify(opts.accounts))
      })
      .immediate()
  }

  /**
   * getInviteCodes: every code, newest first (`recent`) or most used first (`usage`), ties by code
   * descending; the cursor is the last code's `<time in ms or uses>::<code>`, as the reference's.
   */
  page(sort: InviteSort, limit: number, cursor: string | undefined): { codes: InviteCodeView[]; cursor?: string } {
    const stmts = this.pageStmts[sort]
    const rows = cursor === undefined ? stmts.first.all(limit) : stmts.after.all(...parseCursor(cursor, sort), limit)
    const last = rows.length === limit ? rows[rows.length - 1] : undefined
    const next = last && `${sort === 'usage' ? last.uses : Date.parse(last.created_at)}::${last.code}`
    return { codes: this.views(rows), ...(next ? { cursor: next } : {}) }
  }

  /** Every code given to each of `dids`, newest first. */
  ofAccounts(dids: string[]): Map<string, InviteCodeView[]> {
    const out = new Map<string, InviteCodeView[]>()
    if (dids.length === 0) return out
    for (const view of this.views(this.ofAccountsStmt.all(JSON.stringify(dids)))) {
      const list = out.get(view.forAccount) ?? []
      list.push(view)
      out.set(view.forAccount, list)
    }
    return out
  }

  /** The code each of `dids` was invited with (accounts created without one are absent). */
  invitedBy(dids: string[]): Map<string, InviteCodeView> {
    const out = new Map<string, InviteCodeView>()
    if (dids.length === 0) return out
    const rows = this.invitedByStmt.all(JSON.stringify(dids))
    const views = this.views(rows)
    rows.forEach((row, i) => out.set(row.used_by, views[i]!))
    return out
  }

  /**
   * Inside a transaction: codes the account made for itself (earned over time), one use each,
   * disabled at once when the account's invites are disabled (kept so that they are counted).
   */
  createEarnedInTx(did: string, count: number, disabled: boolean, hostname: string): InviteCodeView[] {
    const createdAt = new Date().toISOString()
    const made: InviteCodeView[] = []
    for (let i = 0; i < count; i++) {
      const code = InviteStore.generateCode(hostname)
      this.insert({ code, useCount: 1, forAccount: did, createdBy: did, createdAt, disabled })
      made.push({ code, available: 1, disabled, forAccount: did, createdBy: did, createdAt, uses: [] })
    }
    return made
  }

  private views(rows: InviteCodeRow[]): InviteCodeView[] {
    const uses = new Map<string, { usedBy: string; usedAt: string }[]>()
    if (rows.length > 0) {
      for (const u of this.usesOfStmt.all(JSON.stringify([...new Set(rows.map((r) => r.code))]))) {
        const list = uses.get(u.code) ?? []
        list.push({ usedBy: u.used_by, usedAt: u.used_at })
        uses.set(u.code, list)
      }
    }
    return rows.map((r) => ({
      code: r.code,
      available: r.available_uses,
      disabled: r.disabled === 1,
      forAccount: r.for_account,
      createdBy: r.created_by,
      createdAt: r.created_at,
      uses: uses.get(r.code) ?? [],
    }))
  }
}
