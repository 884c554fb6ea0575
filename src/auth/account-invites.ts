import type { AccountRow } from '../accounts/account-store.js'
import type { Db } from '../db/index.js'
import type { InviteCodeView, InviteStore } from './invite-store.js'

/** Most open codes an account may hold that it earned (admin-given codes are not counted). */
const MAX_OPEN_EARNED = 5

/** When accounts earn codes: every `intervalMs` of the account's life, counted from `epochMs`. */
export type InviteEarning = { intervalMs: number; epochMs: number }

/**
 * How many codes an account earned and does not have yet. It earns one per interval it has
 * existed since the epoch (the reference's `PDS_INVITE_INTERVAL` / `PDS_INVITE_EPOCH`), minus
 * the codes it already made since the epoch, and never holds more than five open ones.
 */
export function codesToEarn(codes: InviteCodeView[], createdAtMs: number, now: number, earning: InviteEarning): number {
  const own = codes.filter((c) => c.createdBy !== 'admin')
  const open = own.filter((c) => !c.disabled && c.uses.length < c.available).length
  const periods = (ms: number) => Math.floor(Math.max(0, ms) / earning.intervalMs)
  // the intervals of its life, less those that ended before the epoch
  const earned = periods(now - createdAtMs) - (createdAtMs < earning.epochMs ? periods(earning.epochMs - createdAtMs) : 0)
  const madeSinceEpoch = own.filter((c) => Date.parse(c.createdAt) > earning.epochMs).length
  return Math.max(0, Math.min(MAX_OPEN_EARNED - open, earned - madeSinceEpoch))
}

/**
 * com.atproto.server.getAccountInviteCodes: the account's own codes. With `createAvailable`,
 * on a server that requires invites and lets accounts earn them, the codes earned so far are
 * made first (disabled at once if the admin disabled the account's invites, as the reference
 * does). Counting and making happen in one synchronous transaction, so two calls at once cannot
 * both make the same codes (the reference's `DuplicateCreate` race cannot occur here).
 */
export function accountInviteCodes(
  d: { db: Db; invites: InviteStore; hostname: string; earning: InviteEarning | null },
  account: AccountRow,
  opts: { includeUsed: boolean; createAvailable: boolean },
): InviteCodeView[] {
  const codes = d.db.sqlite
    .transaction(() => {
      const existing = d.invites.ofAccounts([account.did]).get(account.did) ?? []
      if (!opts.createAvailable || !d.earning) return existing
      const count = codesToEarn(existing, Date.parse(account.created_at), Date.now(), d.earning)
      if (count === 0) return existing
      return [...d.invites.createEarnedInTx(account.did, count, account.invites_disabled === 1, d.hostname), ...existing]
    })
    .immediate()
  return codes.filter((c) => !c.disabled && (opts.includeUsed || c.uses.length < c.available))
}
