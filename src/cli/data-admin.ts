import { XRPCError } from '@atproto/xrpc-server'
import { accountStatus } from '../accounts/status.js'
import { changeAccountStatus } from '../lifecycle/admin-account-status.js'
import type { AccountRow } from '../accounts/account-store.js'
import type { AccountDetail, AccountSummary, Admin, ExportResult } from './admin.js'
import { writeStreamToFile } from './atomic-file.js'
import type { OfflineServer } from './data-dir.js'
import { CliError, EXIT } from './exit-codes.js'

/** The account commands on the data directory of a stopped server, through the same services its handlers call. */
export class DataAdmin implements Admin {
  constructor(private offline: OfflineServer) {}

  private get ctx() {
    return this.offline.ctx
  }

  private account(did: string): AccountRow {
    const row = this.ctx.accounts.getByDid(did)
    if (!row) throw new CliError(`Account not found: ${did}`, EXIT.failed, 'AccountNotFound')
    return row
  }

  async resolve(account: string): Promise<string> {
    const row = this.ctx.accounts.resolveRepo(account)
    if (!row) throw new CliError(`Account not found: ${account}`, EXIT.failed, 'AccountNotFound')
    return row.did
  }

  private summary(row: AccountRow): AccountSummary {
    const status = accountStatus(row)
    const rev = this.ctx.repo.roots.get(row.did)?.rev
    return {
      did: row.did,
      handle: row.handle,
      email: row.email,
      createdAt: row.created_at,
      status: status.active ? 'active' : (status.status ?? 'deactivated'),
      ...(rev ? { rev } : {}),
    }
  }

  async listAccounts(): Promise<AccountSummary[]> {
    // in the order listRepos gives
    return this.ctx.accounts.listAll().map((row) => this.summary(row))
  }

  async accountInfo(did: string): Promise<AccountDetail> {
    const row = this.account(did)
    const invites = this.ctx.invites.ofAccounts([did]).get(did) ?? []
    return {
      ...this.summary(row),
      ...(row.deactivated_at ? { deactivatedAt: row.deactivated_at } : {}),
      ...(row.takedown_ref ? { takedownRef: row.takedown_ref } : {}),
      invitesDisabled: row.invites_disabled === 1,
      invites: invites.map((i) => ({ code: i.code, available: i.available, uses: i.uses.length, disabled: i.disabled })),
    }
  }

  async createAccount(input: { handle: string; email: string; password: string }): Promise<{ did: string; handle: string }> {
    await this.offline.ensurePlc()
    const inviteCode = this.offline.cfg.inviteRequired ? await this.createInvite(1) : undefined
    const created = await xrpcErrors(() => this.ctx.accountCreator.createAccount({ ...input, ...(inviteCode ? { inviteCode } : {}) }))
    return { did: created.did, handle: created.handle }
  }

  async setDeactivated(did: string, deactivated: boolean): Promise<void> {
    await xrpcErrors(() => changeAccountStatus(this.ctx, did, { deactivated: { applied: deactivated } }, () => this.offline.ensurePlc()))
  }

  async setTakedown(did: string, applied: boolean, ref?: string): Promise<void> {
    await xrpcErrors(() => changeAccountStatus(this.ctx, did, { takedown: { applied, ...(ref !== undefined ? { ref } : {}) } }))
  }

  async deleteAccount(did: string): Promise<void> {
    await xrpcErrors(() => this.ctx.accountDeleter.deleteByAdmin(did))
  }

  async setPassword(did: string, password: string): Promise<void> {
    await xrpcErrors(() => this.ctx.accountAdmin.updatePassword(did, password))
  }

  async createInvite(uses: number): Promise<string> {
    return this.ctx.invites.issue(uses, 'admin', this.offline.cfg.hostname)
  }

  async exportRepo(did: string, file: string): Promise<ExportResult> {
    this.account(did)
    const { stream } = await xrpcErrors(async () => this.ctx.exporter.exportRepo(did, undefined, { stallTimeoutMs: 0 }))
    return { did, file, bytes: await writeStreamToFile(stream, file) }
  }

  async announce(did: string): Promise<void> {
    await xrpcErrors(async () => this.ctx.takedowns.announceAccount(did))
  }

  async latestSeq(): Promise<number | undefined> {
    return this.ctx.sequencer.currentSeq()
  }

  async close(): Promise<void> {
    await this.offline.close()
  }
}

/** The services' XRPC errors (AccountNotFound, InvalidPassword, ...) as the CLI reports them. */
async function xrpcErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof XRPCError) throw new CliError(err.payload.message ?? err.message, EXIT.failed, err.payload.error)
    throw err
  }
}
