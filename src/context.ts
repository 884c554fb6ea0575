import type { Lexicons } from '@atproto/lexicon'
import { AccountManager } from './auth/account-manager.js'
import { AccountStore } from './auth/account-store.js'
import { InviteStore } from './auth/invite-store.js'
import { SessionStore } from './auth/session-store.js'
import { TokenService } from './auth/tokens.js'
import { AuthVerifier } from './auth/verifier.js'
import type { Config } from './config.js'
import { migrateToLatest, openDatabase, type Db } from './db/index.js'
import { Sequencer } from './firehose/sequencer.js'
import { IdentityService } from './identity/service.js'
import { createLexicons } from './lexicons.js'
import { createLogger, type Logger } from './logger.js'
import { RepoService } from './repo/service.js'

/** The stores and services that XRPC handlers receive. Built once at start-up. */
export type AppContext = {
  cfg: Config
  db: Db
  logger: Logger
  lexicons: Lexicons
  accounts: AccountStore
  sequencer: Sequencer
  repo: RepoService
  /** XRPC auth functions: `auth: ctx.auth.accessStandard` etc. */
  auth: AuthVerifier
  tokens: TokenService
  sessions: SessionStore
  invites: InviteStore
  /** DIDs (PLC), DID and handle resolution; `identity.plcUrl` is the effective PLC URL */
  identity: IdentityService
  /** account creation, login, refresh, logout */
  accountManager: AccountManager
  /** closes services in reverse order of creation */
  close(): Promise<void>
}

export async function createContext(cfg: Config): Promise<AppContext> {
  const logger = createLogger(cfg.logLevel)
  const db = openDatabase(cfg.dbPath)
  await migrateToLatest(db)
  const lexicons = createLexicons()
  const accounts = new AccountStore(db)
  const sequencer = new Sequencer(db)
  const repo = new RepoService({ db, sequencer, accounts, lexicons })
  const tokens = new TokenService(cfg.jwtSecret, {
    serviceDid: cfg.serviceDid,
    accessLifetimeMs: cfg.accessTokenLifetimeMs,
    refreshLifetimeMs: cfg.refreshTokenLifetimeMs,
  })
  const sessions = new SessionStore(db)
  const invites = new InviteStore(db)
  const auth = new AuthVerifier({
    tokens,
    sessions,
    adminPassword: cfg.adminPassword,
    refreshGraceMs: cfg.refreshTokenGraceMs,
  })
  const identity = new IdentityService(cfg, accounts)
  const accountManager = new AccountManager({
    cfg,
    db,
    logger,
    accounts,
    sessions,
    invites,
    tokens,
    sequencer,
    identity,
    repo,
  })
  return {
    cfg,
    db,
    logger,
    lexicons,
    accounts,
    sequencer,
    repo,
    auth,
    tokens,
    sessions,
    invites,
    identity,
    accountManager,
    async close() {
      await db.close()
    },
  }
}
