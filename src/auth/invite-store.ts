import { randomBytes } from 'node:crypto'
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

/** Why an invite code cannot be used, or null when it can. */
export type InviteProblem = 'unknown' | 'disabled' | 'exhausted' | null

/** The invite_code and invite_code_use tables. */
export class InviteStore {
  private getStmt
  private usesStmt
  private insertStmt
  private useStmt

  constructor(db: Db) {
    const s = db.sqlite
    this.getStmt = s.prepare<[string], InviteCodeRow>('SELECT * FROM invite_code WHERE code = ?')
    this.usesStmt = s.prepare<[string], { n: number }>('SELECT count(*) AS n FROM invite_code_use WHERE code = ?')
    this.insertStmt = s.prepare(
      `INSERT INTO invite_code (code, available_uses, disabled, for_account, created_by, created_at)
       VALUES (@code, @available_uses, 0, @for_account, @created_by, @created_at)`,
    )
    this.useStmt = s.prepare<[string, string, string]>(
      'INSERT INTO invite_code_use (code, used_by, used_at) VALUES (?, ?, ?)',
    )
  }

  static generateCode(hostname: string): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    const part = () => Array.from(randomBytes(5), (b) => alphabet[b & 31]).join('')
    return `${hostname.replace(/\./g, '-')}-${part()}-${part()}`
  }

  /** A new code for `useCount` accounts, made by the admin. */
  issue(useCount: number, forAccount: string, hostname: string): string {
    if (!Number.isSafeInteger(useCount) || useCount < 1) throw new InvalidRequestError('useCount must be at least 1')
    const code = InviteStore.generateCode(hostname)
    this.create({ code, useCount, forAccount, createdBy: 'admin' })
    return code
  }

  create(opts: { code: string; useCount: number; forAccount: string; createdBy: string }): void {
    this.insertStmt.run({
      code: opts.code,
      available_uses: opts.useCount,
      for_account: opts.forAccount,
      created_by: opts.createdBy,
      created_at: new Date().toISOString(),
    })
  }

  check(code: string): InviteProblem {
    const row = this.getStmt.get(code)
    if (!row) return 'unknown'
    if (row.disabled) return 'disabled'
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
}
