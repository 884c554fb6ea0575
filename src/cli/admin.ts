/** An account as `account list` shows it. */
export type AccountSummary = {
  did: string
  handle: string
  email: string
  createdAt: string
  /** what the host serves: active, or why not */
  status: 'active' | 'deactivated' | 'takendown' | 'suspended' | 'deleted'
  /** the repo's current revision */
  rev?: string
}

/** `account info`: the summary and the admin's details. */
export type AccountDetail = AccountSummary & {
  deactivatedAt?: string
  takedownRef?: string
  invitesDisabled: boolean
  invites: { code: string; available: number; uses: number; disabled: boolean }[]
}

export type ExportResult = { did: string; file: string; bytes: number }

/**
 * What the account commands need, done the same way in both modes: through the running server's
 * admin API (ServerAdmin) or on the data directory of a stopped server (DataAdmin). Errors are
 * CliErrors naming the XRPC error (AccountNotFound, ...) either way.
 */
export interface Admin {
  /** the DID of a hosted account given by handle or DID; AccountNotFound otherwise */
  resolve(account: string): Promise<string>
  listAccounts(): Promise<AccountSummary[]>
  accountInfo(did: string): Promise<AccountDetail>
  createAccount(input: { handle: string; email: string; password: string }): Promise<{ did: string; handle: string }>
  setDeactivated(did: string, deactivated: boolean): Promise<void>
  setTakedown(did: string, applied: boolean, ref?: string): Promise<void>
  deleteAccount(did: string): Promise<void>
  setPassword(did: string, password: string): Promise<void>
  createInvite(uses: number): Promise<string>
  exportRepo(did: string, file: string): Promise<ExportResult>
  /** `#identity`, `#account` and `#sync` of an active account's current state (what a relay resyncs from) */
  announce(did: string): Promise<void>
  /** this host's highest firehose seq, when it can be read */
  latestSeq(): Promise<number | undefined>
  close(): Promise<void>
}
