import type { Db } from '../db/index.js'

export type AccountRow = {
  did: string
  handle: string
  email: string
  password_hash: string
  signing_key: Buffer
  created_at: string
  deactivated_at: string | null
  takedown_ref: string | null
  /** deactivateAccount's deleteAfter (a recommendation; nothing acts on it yet) */
  delete_after: string | null
  /** when the account holder confirmed `email` (confirmEmail); null: not confirmed, or changed since */
  email_confirmed_at: string | null
  /** 1: the account earns no usable invite codes (admin disableAccountInvites) */
  invites_disabled: number
  /** access tokens issued (iat, seconds) before this are refused: the last password change; null: none */
  access_valid_from: number | null
}

const MAX_CACHED_ACCOUNTS = 10_000

/**
 * The account table. Every statement is prepared once. Rows looked up by DID are cached (every
 * repo read and write resolves its account): whatever changes a row must go through this store
 * and call `invalidate`.
 */
export class AccountStore {
  private cache = new Map<string, AccountRow>()
  private byDid
  private byHandle
  private byEmail
  private allStmt
  private setDeactivatedStmt
  private setTakedownStmt
  private setHandleStmt
  private setEmailStmt
  private setPasswordHashStmt
  private setEmailConfirmedStmt
  private setInvitesDisabledStmt
  private insertStmt
  private deleteStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.byDid = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE did = ?')
    this.byHandle = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE handle = ?')
    this.byEmail = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE email = ?')
    this.allStmt = s.prepare<[], AccountRow>('SELECT * FROM account ORDER BY did')
    this.insertStmt = s.prepare(
      `INSERT INTO account (did, handle, email, password_hash, signing_key, created_at, deactivated_at)
       VALUES (@did, @handle, @email, @password_hash, @signing_key, @created_at, @deactivated_at)`,
    )
    this.setDeactivatedStmt = s.prepare('UPDATE account SET deactivated_at = ?, delete_after = ? WHERE did = ?')
    this.deleteStmt = s.prepare('DELETE FROM account WHERE did = ?')
    this.setTakedownStmt = s.prepare('UPDATE account SET takedown_ref = ? WHERE did = ?')
    this.setHandleStmt = s.prepare<[string, string]>('UPDATE account SET handle = ? WHERE did = ?')
    this.setEmailStmt = s.prepare<[string, string]>('UPDATE account SET email = ?, email_confirmed_at = NULL WHERE did = ?')
    this.setPasswordHashStmt = s.prepare<[string, number, string]>('UPDATE account SET password_hash = ?, access_valid_from = ? WHERE did = ?')
    this.setEmailConfirmedStmt = s.prepare<[string, string]>('UPDATE account SET email_confirmed_at = ? WHERE did = ?')
    this.setInvitesDisabledStmt = s.prepare<[number, string]>('UPDATE account SET invites_disabled = ? WHERE did = ?')
  }

  getByDid(did: string): AccountRow | undefined {
    const cached = this.cache.get(did)
    if (cached) return cached
    const row = this.byDid.get(did)
    // never cache what an open transaction has not committed yet
    if (row && !this.db.sqlite.inTransaction) {
      if (this.cache.size >= MAX_CACHED_ACCOUNTS) this.cache.delete(this.cache.keys().next().value!)
      this.cache.set(did, row)
    }
    return row
  }

  invalidate(did: string): void {
    this.cache.delete(did)
  }

  /**
   * Deactivated by the user (or migrating in): `at` = when, null = active again (which also
   * forgets `deleteAfter`). Returns false when there is no such account.
   */
  setDeactivated(did: string, at: string | null, deleteAfter: string | null = null): boolean {
    const changed = this.setDeactivatedStmt.run(at, at === null ? null : deleteAfter, did).changes > 0
    this.invalidate(did)
    return changed
  }

  /** call inside the account deletion's write transaction; the handle is free at once */
  delete(did: string): void {
    this.deleteStmt.run(did)
    this.invalidate(did)
  }

  /** Taken down by the host: `ref` names the moderation action, null lifts it. */
  setTakedown(did: string, ref: string | null): void {
    this.setTakedownStmt.run(ref, did)
    this.invalidate(did)
  }

  /**
   * call inside a write transaction: a new address starts unconfirmed; one another account has
   * fails the UNIQUE constraint
   */
  setEmail(did: string, email: string): void {
    this.setEmailStmt.run(email.toLowerCase(), did)
    this.invalidate(did)
  }

  /**
   * call inside a write transaction (the account's sessions end in the same one); the access
   * tokens issued before this second end too (those of this very second live on: a JWT's iat
   * counts whole seconds, and the session made with the new password must work at once)
   */
  setPasswordHash(did: string, passwordHash: string): void {
    this.setPasswordHashStmt.run(passwordHash, Math.floor(Date.now() / 1000), did)
    this.invalidate(did)
  }

  /** Returns false when there is no such account. */
  setInvitesDisabled(did: string, disabled: boolean): boolean {
    const changed = this.setInvitesDisabledStmt.run(disabled ? 1 : 0, did).changes > 0
    this.invalidate(did)
    return changed
  }

  /** call inside a write transaction; a handle another account has fails the UNIQUE constraint */
  setHandle(did: string, handle: string): void {
    this.setHandleStmt.run(handle.toLowerCase(), did)
    this.invalidate(did)
  }

  getByHandle(handle: string): AccountRow | undefined {
    return this.byHandle.get(handle.toLowerCase())
  }

  getByEmail(email: string): AccountRow | undefined {
    return this.byEmail.get(email.toLowerCase())
  }

  /** handle, email or DID, as createSession accepts them */
  getByIdentifier(identifier: string): AccountRow | undefined {
    const id = identifier.trim()
    if (id.startsWith('did:')) return this.getByDid(id)
    if (id.includes('@')) return this.getByEmail(id)
    return this.getByHandle(id)
  }

  /** Every account, by DID (the CLI's listing on a stopped server; not cached). */
  listAll(): AccountRow[] {
    return this.allStmt.all()
  }

  /** handle or DID, as repo parameters accept them */
  resolveRepo(repo: string): AccountRow | undefined {
    return repo.startsWith('did:') ? this.getByDid(repo) : this.getByHandle(repo)
  }

  /**
   * call inside a write transaction; `deactivated_at` set = the account starts deactivated (an
   * account migrating in, activated once its DID document points here)
   */
  insert(
    row: Omit<AccountRow, 'deactivated_at' | 'takedown_ref' | 'delete_after' | 'invites_disabled' | 'email_confirmed_at' | 'access_valid_from'> & { deactivated_at?: string | null },
  ): void {
    this.insertStmt.run({
      ...row,
      handle: row.handle.toLowerCase(),
      email: row.email.toLowerCase(),
      deactivated_at: row.deactivated_at ?? null,
    })
  }

  /** call inside a write transaction */
  setEmailConfirmed(did: string, at: string): void {
    this.setEmailConfirmedStmt.run(at, did)
    this.invalidate(did)
  }
}
