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
}

export type AccountStatus = { active: boolean; status?: 'takendown' | 'suspended' | 'deactivated' | 'deleted' }

export function accountStatus(row: Pick<AccountRow, 'deactivated_at' | 'takedown_ref'> | undefined): AccountStatus {
  if (!row) return { active: false, status: 'deleted' }
  if (row.takedown_ref) return { active: false, status: 'takendown' }
  if (row.deactivated_at) return { active: false, status: 'deactivated' }
  return { active: true }
}

/** The account table. Every statement is prepared once. */
export class AccountStore {
  private byDid
  private byHandle
  private byEmail
  private insertStmt

  constructor(private db: Db) {
    const s = db.sqlite
    this.byDid = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE did = ?')
    this.byHandle = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE handle = ?')
    this.byEmail = s.prepare<[string], AccountRow>('SELECT * FROM account WHERE email = ?')
    this.insertStmt = s.prepare(
      `INSERT INTO account (did, handle, email, password_hash, signing_key, created_at)
       VALUES (@did, @handle, @email, @password_hash, @signing_key, @created_at)`,
    )
  }

  getByDid(did: string): AccountRow | undefined {
    return this.byDid.get(did)
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

  /** handle or DID, as repo parameters accept them */
  resolveRepo(repo: string): AccountRow | undefined {
    return repo.startsWith('did:') ? this.getByDid(repo) : this.getByHandle(repo)
  }

  /** call inside a write transaction */
  insert(row: Omit<AccountRow, 'deactivated_at' | 'takedown_ref'>): void {
    this.insertStmt.run({ ...row, handle: row.handle.toLowerCase(), email: row.email.toLowerCase() })
  }
}
