import type { LexiconDoc, Lexicons } from '@atproto/lexicon'
import { AccountStore } from './accounts/account-store.js'
import { InviteStore } from './auth/invite-store.js'
import { SessionManager } from './auth/session-manager.js'
import { SessionStore } from './auth/session-store.js'
import { TokenService } from './auth/tokens.js'
import { AuthVerifier } from './auth/verifier.js'
import type { Config } from './config.js'
import { startCheckpointer } from './db/checkpointer.js'
import { migrateToLatest, openDatabase, type Db } from './db/index.js'
import { Sequencer } from './firehose/sequencer.js'
import { IdentityService } from './identity/service.js'
import { AccountCreator } from './lifecycle/create-account.js'
import { loadLexicons } from './lexicons.js'
import { createLogger, type Logger } from './logger.js'
import { RepoService } from './repo/service.js'
import { BlobService } from './repo/blob-service.js'
import { DiskBlobStore } from './repo/blobstore.js'
import { openLibraryIndex } from './indexer/library/library-index.js'
import { RepoExporter } from './repo/car-export.js'

/** The stores and services that XRPC handlers receive. Built once at start-up. */
export type AppContext = {
  cfg: Config
  db: Db
  logger: Logger
  lexicons: Lexicons
  /** every lexicon document the XRPC server routes and validates */
  lexiconDocs: LexiconDoc[]
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
  /** login (rate-limited), refresh, logout */
  sessionManager: SessionManager
  /** createAccount: DID, repo, account row and first session together */
  accountCreator: AccountCreator
  /** uploads, blob lifecycle (commit hook, sweeper), blob reads */
  blobs: BlobService
  /** snapshot reads for the sync API (CAR export, record proofs) */
  exporter: RepoExporter
  /** closes services in reverse order of creation */
  close(): Promise<void>
}

export async function createContext(cfg: Config): Promise<AppContext> {
  const logger = createLogger(cfg.logLevel)
  const db = openDatabase(cfg.dbPath)
  await migrateToLatest(db)
  const checkpointer = startCheckpointer(cfg.dbPath, logger)
  const { docs: lexiconDocs, lexicons } = await loadLexicons()
  const accounts = new AccountStore(db)
  const sequencer = new Sequencer(db)
  const repo = new RepoService({ db, sequencer, accounts })
  const blobs = new BlobService({
    db,
    store: new DiskBlobStore(cfg.blobstoreLocation),
    lexicons,
    logger,
    tempGraceMs: cfg.blobTempGraceMs,
    sweepIntervalMs: cfg.blobSweepIntervalMs,
  })
  repo.hooks.push(blobs.hook)
  repo.hooks.push(openLibraryIndex({ db, lexicons, logger, enabled: cfg.libraryIndex }).hook)
  const exporter = new RepoExporter(cfg.dbPath)
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
  const sessionManager = new SessionManager({
    accounts,
    sessions,
    tokens,
    logger,
    loginLimits: cfg.loginRateLimit,
    refreshTokenLifetimeMs: cfg.refreshTokenLifetimeMs,
    refreshTokenGraceMs: cfg.refreshTokenGraceMs,
  })
  const accountCreator = new AccountCreator({ cfg, logger, accounts, sessions, invites, tokens, sequencer, identity, repo })
  return {
    cfg,
    db,
    logger,
    lexicons,
    lexiconDocs,
    accounts,
    sequencer,
    repo,
    auth,
    tokens,
    sessions,
    invites,
    identity,
    sessionManager,
    accountCreator,
    blobs,
    exporter,
    async close() {
      await blobs.stopSweeper()
      exporter.close()
      await checkpointer.stop()
      await db.close()
    },
  }
}
