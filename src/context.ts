import { join } from 'node:path'
import type { LexiconDoc, Lexicons } from '@atproto/lexicon'
import { AccountStore } from './accounts/account-store.js'
import { TakedownStore } from './accounts/takedown-store.js'
import { AccountTokenStore } from './auth/account-tokens.js'
import { AppPasswordStore } from './auth/app-password-store.js'
import { AppPasswords } from './auth/app-passwords.js'
import { InviteStore } from './auth/invite-store.js'
import { SessionManager } from './auth/session-manager.js'
import { SessionStore } from './auth/session-store.js'
import { TokenService } from './auth/tokens.js'
import { ServiceTokenMint } from './auth/service-token-mint.js'
import { AuthVerifier } from './auth/verifier.js'
import type { Config } from './config.js'
import { startCheckpointer } from './db/checkpointer.js'
import { migrateToLatest, openDatabase, type Db } from './db/index.js'
import { Sequencer } from './firehose/sequencer.js'
import { IdentityService } from './identity/service.js'
import { accountStatusHook } from './lifecycle/account-status-hook.js'
import { AccountActivator } from './lifecycle/activate-account.js'
import { AccountCreator } from './lifecycle/create-account.js'
import { PlcOperationFlow } from './lifecycle/plc-operations.js'
import { HandleUpdater } from './lifecycle/update-handle.js'
import { RepoImportFlow } from './lifecycle/import-repo.js'
import { atprotoSigningKey } from './identity/atproto-signing-key.js'
import { RepoImporter } from './repo/repo-import.js'
import { AccountDeactivator } from './lifecycle/deactivate-account.js'
import { AccountDeleter } from './lifecycle/delete-account.js'
import { AccountMail } from './mail/account-mail.js'
import { SmtpMailer } from './mail/smtp.js'
import { TokenMail } from './lifecycle/token-mail.js'
import { AccountEmail } from './lifecycle/account-email.js'
import { PasswordReset } from './lifecycle/password-reset.js'
import { AdminEmail } from './lifecycle/admin-email.js'
import { Takedowns } from './lifecycle/takedown.js'
import { AccountAdmin } from './lifecycle/account-admin.js'
import { loadLexicons } from './lexicons.js'
import { createLogger, type Logger } from './logger.js'
import { RepoService } from './repo/service.js'
import { BlobService } from './repo/blob-service.js'
import { DiskBlobStore } from './repo/blobstore.js'
import { openLibraryIndex } from './indexer/library/library-index.js'
import { RepoExporter } from './repo/car-export.js'
import { SyncService } from './indexer/sync/index.js'
import { UpdatesService } from './indexer/updates/index.js'
import { DidResolver } from './identity/did-resolver.js'
import { createOutboundDns, createOutboundStream, type OutboundStream, type OutboundStreamPolicy } from './identity/safe-fetch.js'
import { ServiceEndpoints } from './identity/service-endpoint.js'
import { PreferencesStore } from './accounts/preferences.js'

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
  /** updateHandle: the DID document, then the account row and #identity together */
  handleUpdater: HandleUpdater
  /** the PLC operation flow: credentials, token, signing, submitting */
  plcOperations: PlcOperationFlow
  /** create, list and revoke app passwords */
  appPasswords: AppPasswords
  /** deactivateAccount */
  accountDeactivator: AccountDeactivator
  /** activateAccount (after checking the DID document) */
  accountActivator: AccountActivator
  /** requestAccountDelete / deleteAccount (and the admin's deleteAccount) */
  accountDeleter: AccountDeleter
  /** records and blobs the host took down (status.ts decides what is served) */
  takedownStore: TakedownStore
  /** the admin's takedowns of accounts, records and blobs, and lifting them */
  takedowns: Takedowns
  /** the admin's changes to an account's email and password */
  accountAdmin: AccountAdmin
  /** importRepo: a CAR checked, then replacing the account's repo in one transaction */
  repoImports: RepoImportFlow
  /** uploads, blob lifecycle (commit hook, sweeper), blob reads */
  blobs: BlobService
  /** snapshot reads for the sync API (CAR export, record proofs) */
  exporter: RepoExporter
  /** the Library Manager's sync: changes feed, device heartbeats, settings */
  sync: SyncService
  /** messages to account holders: SMTP when configured, else the outbox */
  mail: AccountMail
  /** requestEmailConfirmation / confirmEmail / requestEmailUpdate / updateEmail */
  accountEmail: AccountEmail
  /** requestPasswordReset / resetPassword */
  passwordReset: PasswordReset
  /** com.atproto.admin.sendEmail */
  adminEmail: AdminEmail
  /** app updates: release and install tables, checkForUpdates, adoption, server-made deltas */
  updates: UpdatesService
  /** app.bsky.actor.getPreferences / putPreferences: private, per account */
  preferences: PreferencesStore
  /** the endpoints DID documents name for services (atproto-proxy), cached */
  serviceEndpoints: ServiceEndpoints
  /**
   * Streamed requests for forwarded calls: to the services the operator configured (trusted:
   * any address and port), and to services DID documents name (the SSRF rules apply)
   */
  upstreams: { configured: OutboundStream; named: OutboundStream }
  /** the service-auth tokens of forwarded calls, signed ahead for busy ones */
  serviceTokens: ServiceTokenMint
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
  repo.hooks.push(accountStatusHook(accounts))
  const blobs = new BlobService({
    db,
    store: new DiskBlobStore(cfg.blobstoreLocation),
    lexicons,
    logger,
    tempGraceMs: cfg.blobTempGraceMs,
    sweepIntervalMs: cfg.blobSweepIntervalMs,
  })
  repo.hooks.push(blobs.hook)
  const sync = new SyncService({ db, repo, changesRetentionMs: cfg.syncChangesRetentionMs })
  repo.hooks.push(sync.hook)
  // a record path the host took down is kept out of the derived indexes (takedowns change them)
  const takedownStore = new TakedownStore(db)
  const isTakenDown = takedownStore.isRecordTakenDown
  const library = openLibraryIndex({ db, lexicons, isTakenDown, logger, enabled: cfg.libraryIndex })
  repo.hooks.push(library.hook)
  const updates = new UpdatesService({
    db,
    lexicons,
    isTakenDown,
    accounts,
    blobs,
    publicUrl: () => cfg.publicUrl,
    workDir: join(cfg.dataDirectory, 'delta-work'),
    logger,
  })
  repo.hooks.push(updates.hook)
  const exporter = new RepoExporter(cfg.dbPath)
  const tokens = new TokenService(cfg.jwtSecret, {
    serviceDid: cfg.serviceDid,
    accessLifetimeMs: cfg.accessTokenLifetimeMs,
    refreshLifetimeMs: cfg.refreshTokenLifetimeMs,
  })
  const sessions = new SessionStore(db)
  const preferences = new PreferencesStore(db)
  const appPasswordStore = new AppPasswordStore(db)
  const invites = new InviteStore(db)
  const identity = new IdentityService(cfg, accounts)
  const auth = new AuthVerifier({
    tokens,
    sessions,
    accounts,
    appPasswords: appPasswordStore,
    adminPassword: cfg.adminPassword,
    refreshGraceMs: cfg.refreshTokenGraceMs,
    serviceDid: cfg.serviceDid,
    signingKeyOf: (did) => atprotoSigningKey(identity.didResolver, did),
  })
  const sessionManager = new SessionManager({
    accounts,
    sessions,
    appPasswords: appPasswordStore,
    tokens,
    logger,
    loginLimits: cfg.loginRateLimit,
    refreshTokenLifetimeMs: cfg.refreshTokenLifetimeMs,
    refreshTokenGraceMs: cfg.refreshTokenGraceMs,
  })
  const accountCreator = new AccountCreator({ cfg, logger, accounts, sessions, invites, tokens, sequencer, identity, repo })
  const handleUpdater = new HandleUpdater({ cfg, db, logger, accounts, sequencer, identity })
  const smtp = cfg.emailSmtpUrl && cfg.emailFromAddress ? new SmtpMailer({ smtpUrl: cfg.emailSmtpUrl, fromAddress: cfg.emailFromAddress }) : undefined
  const mail = new AccountMail({ smtp, dataDirectory: cfg.dataDirectory, server: cfg.hostname, logger })
  const accountTokens = new AccountTokenStore(db)
  const tokenMail = new TokenMail({ tokens: accountTokens, mail })
  const accountEmail = new AccountEmail({ db, accounts, tokens: accountTokens, tokenMail, logger })
  const passwordReset = new PasswordReset({ db, accounts, sessions, tokenMail, logger })
  const adminEmail = new AdminEmail({ accounts, mail, server: cfg.hostname, logger })
  const plcOperations = new PlcOperationFlow({ cfg, db, logger, accounts, sequencer, identity, repo, tokens: accountTokens, tokenMail })
  const appPasswords = new AppPasswords({ store: appPasswordStore, accounts })
  const accountDeactivator = new AccountDeactivator({ db, accounts, sequencer, logger })
  const accountActivator = new AccountActivator({ cfg, identity, repo, db, accounts, sequencer, logger })
  const accountDeleter = new AccountDeleter({
    accounts,
    sessions,
    sessionManager,
    appPasswords: appPasswordStore,
    accountTokens,
    tokenMail,
    mail,
    sequencer,
    repo,
    blobs,
    privateState: [sync, takedownStore, preferences],
    logger,
  })
  const takedowns = new Takedowns({
    db,
    accounts,
    store: takedownStore,
    sessions,
    accountTokens,
    mail,
    sequencer,
    repo,
    blobs,
    indexes: [...(library.enabled ? [library] : []), updates.index],
    logger,
  })
  const accountAdmin = new AccountAdmin({ db, accounts, sessions, accountTokens, mail, sequencer, logger })
  const { serviceEndpoints, upstreams } = proxyServices(cfg, identity)
  const serviceTokens = new ServiceTokenMint()
  const repoImports = new RepoImportFlow({
    accounts,
    identity,
    importer: new RepoImporter({ db, sequencer, repo, lexicons }),
    logger,
    maxBytes: cfg.maxImportSize,
  })
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
    handleUpdater,
    plcOperations,
    appPasswords,
    accountDeactivator,
    accountActivator,
    accountDeleter,
    takedownStore,
    takedowns,
    accountAdmin,
    repoImports,
    blobs,
    exporter,
    sync,
    mail,
    accountEmail,
    passwordReset,
    adminEmail,
    updates,
    preferences,
    serviceEndpoints,
    upstreams,
    serviceTokens,
    async close() {
      smtp?.close()
      await serviceTokens.close()
      updates.close()
      upstreams.configured.close()
      upstreams.named.close()
      await blobs.stopSweeper()
      exporter.close()
      await checkpointer.stop()
      await db.close()
    },
  }
}

/**
 * What forwarding calls to other services needs. A client chooses the DID in `atproto-proxy`, so
 * its document is read through the outbound policy (a did:web on a private address is refused,
 * dev mode included) and the endpoint it names is reached by HTTPS on 443 at a public address
 * only, unless PDS_DISABLE_SSRF_PROTECTION is set. The operator's configured services are trusted.
 */
function proxyServices(cfg: Config, identity: IdentityService) {
  const open = cfg.disableSsrfProtection
  const dns = createOutboundDns()
  const resolver = new DidResolver({ plcUrl: () => identity.plcUrl, allowHttpLocalhost: open, disableSsrfProtection: open, dns })
  const timing = { headersTimeoutMs: cfg.proxy.headersTimeoutMs, bodyTimeoutMs: cfg.proxy.bodyTimeoutMs, maxBodyBytes: cfg.proxy.maxResponseBytes }
  const trusted: OutboundStreamPolicy = { protocols: ['http:', 'https:'], allowCustomPort: true, allowNonPublicAddresses: true, ...timing }
  const named: OutboundStreamPolicy = open ? trusted : { protocols: ['https:'], allowCustomPort: false, allowNonPublicAddresses: false, ...timing }
  return {
    serviceEndpoints: new ServiceEndpoints({ resolver }),
    upstreams: { configured: createOutboundStream(trusted, dns), named: createOutboundStream(named, dns) },
  }
}
