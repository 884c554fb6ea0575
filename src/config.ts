import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { isValidDid } from '@atproto/syntax'
import secp256k1 from 'secp256k1'

export type Config = {
  version: string
  port: number
  hostname: string
  publicUrl: string
  serviceDid: string
  devMode: boolean
  dataDirectory: string
  dbPath: string
  blobstoreLocation: string
  blobUploadLimit: number
  /** largest CAR com.atproto.repo.importRepo takes, in bytes */
  maxImportSize: number
  /** how long an uploaded blob that no record references is kept before the sweep removes it */
  blobTempGraceMs: number
  blobSweepIntervalMs: number
  jsonBodyLimit: number
  /** a request (headers + body) must arrive within this many ms */
  requestTimeoutMs: number
  /** undefined = start an embedded PLC directory beside the server */
  plcUrl: string | undefined
  plcRotationKeyHex: string
  jwtSecret: string
  adminPassword: string
  inviteRequired: boolean
  /** with invites required: an account earns an invite code every this many ms (null: never) */
  inviteInterval: number | null
  /** earned invite codes count from this time (ms since 1970) */
  inviteEpoch: number
  serviceHandleDomains: string[]
  contactEmail: string | undefined
  privacyPolicyUrl: string | undefined
  termsOfServiceUrl: string | undefined
  crawlers: string[]
  repoBackfillLimitMs: number
  /** how long app.carrel.sync.getChanges keeps a deleted record's tombstone */
  syncChangesRetentionMs: number
  firehoseQueueLength: number
  /** most subscribeRepos connections at once; more are refused before the upgrade */
  firehoseMaxSubscribers: number
  /** a subscriber with frames queued and none written for this long is dropped */
  firehoseStallTimeoutMs: number
  /** getRepo exports: how many at once (server-wide and per client IP), and how long one may live */
  exportLimits: ExportLimits
  maxApplyWrites: number
  logLevel: string
  /** port of the embedded PLC directory (embedded mode only; 0 = any free port) */
  plcPort: number
  accessTokenLifetimeMs: number
  refreshTokenLifetimeMs: number
  /** how long a rotated refresh token keeps working (client retries, races between tabs) */
  refreshTokenGraceMs: number
  /** failed logins allowed within the window: per account from one IP, per account, per IP */
  loginRateLimit: { windowMs: number; perAccountAndIp: number; perAccount: number; perIp: number }
  /** account creations attempted per client IP within the window */
  createAccountRateLimit: { windowMs: number; perIp: number }
  /** the XRPC rate-limit layer (src/xrpc/rate-limit) */
  rateLimits: RateLimitsConfig
  /** fetch hosts that clients name (handles, did:web) even at non-public addresses */
  disableSsrfProtection: boolean
  /** keep the library index (searchBooks, getStats) in each commit; off: those answer 501 */
  libraryIndex: boolean
  /** SMTP server for account mail (`smtp://` or `smtps://`); undefined: tokens go to the outbox */
  emailSmtpUrl: string | undefined
  /** the From address of account mail; set whenever emailSmtpUrl is */
  emailFromAddress: string | undefined
  /** on SIGTERM: how long answers under way may take to finish before their connections are cut */
  shutdownGraceMs: number
  /** Prometheus /metrics on 127.0.0.1 at this port; undefined = off (0 = any free port) */
  metricsPort: number | undefined
  /** variables of the reference PDS that are set here and that Carrel does not read (names only) */
  ignoredReferenceVariables: string[]
  /** where app.bsky.* calls without an atproto-proxy header go (its `#bsky_appview`); unset: nowhere */
  bskyAppView: ServiceRef | undefined
  /** where chat.bsky.* calls without an atproto-proxy header go (its `#bsky_chat`) */
  bskyChat: ServiceRef | undefined
  /** where com.atproto.moderation.createReport goes without an atproto-proxy header (its `#atproto_labeler`) */
  reportService: ServiceRef | undefined
  proxy: ProxyLimits
}

/** A service the operator configured: trusted, reached at `url` (any address and port). */
export type ServiceRef = { url: string; did: string }

export type ProxyLimits = {
  /** an upstream must send its answer's headers within this time, else 504 UpstreamTimeout */
  headersTimeoutMs: number
  /** an answer whose body stops arriving for this long is cut */
  bodyTimeoutMs: number
  /** largest upstream answer passed on, in bytes (a larger declared length is 502; a longer body is cut) */
  maxResponseBytes: number
}

export type ExportLimits = {
  maxConcurrent: number
  maxConcurrentPerIp: number
  /** a response whose client took nothing for this long is cut and its snapshot released */
  stallTimeoutMs: number
  /** a response still running after this long is cut and its snapshot released */
  maxSnapshotAgeMs: number
}

export type RateLimitsConfig = {
  /** off (the reference's default): only the login and createAccount limits apply */
  enabled: boolean
  bypassKey: string | undefined
  /** addresses or CIDR ranges */
  bypassIps: string[]
  /** calls per client address (IPv6: per /64) to /xrpc/, whatever the method; 0 = none */
  globalPerIp: { points: number; windowMs: number }
  /** repo write points per account (create 3, update 2, delete 1) */
  writePointsPerHour: number
  writePointsPerDay: number
  /** keys each limit remembers at most */
  maxKeys: number
}

const VERSION = '0.1.0'

type Env = Record<string, string | undefined>

function bool(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback
  return ['1', 'true', 'yes', 'on'].includes(v.toLowerCase())
}

function int(v: string | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${v}`)
  return n
}

function positiveInt(v: string, name: string): number {
  const n = int(v, 0)
  if (n === 0) throw new Error(`${name} must be a positive integer, got ${v}`)
  return n
}

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/** A comma list of IP addresses or CIDR ranges; a malformed entry refuses start-up (naming the variable). */
function ipList(variable: string, v: string | undefined): string[] {
  const entries = list(v)
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split('/')
    const family = isIP(addr ?? '')
    const max = family === 4 ? 32 : 128
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new ConfigError(`${variable}: expected IP addresses or CIDR ranges separated by commas`)
    }
  }
  return entries
}

/** A configuration the server refuses to start with; the message names the variable or file, never a value. */
export class ConfigError extends Error {}

/** A port that cannot be had is the operator's to fix: name the variable, no stack trace. */
export function listenRefusal(err: unknown, variable: string, address: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'EADDRINUSE') return new ConfigError(`${variable}: cannot listen on ${address}: something else listens there`)
  if (code === 'EACCES') return new ConfigError(`${variable}: cannot listen on ${address}: not permitted (a port below 1024 needs privileges)`)
  return err
}

/**
 * A service named by two variables, `<prefix>_URL` and `<prefix>_DID`: both or neither. The URL
 * must be http(s) (its path is not used: calls go to `/xrpc/<method>` at its origin).
 */
function serviceRef(prefix: string, urlValue: string | undefined, didValue: string | undefined): ServiceRef | undefined {
  const url = urlValue || undefined
  const did = didValue || undefined
  if (!url && !did) return undefined
  if (!url || !did) throw new ConfigError(`${prefix}_URL and ${prefix}_DID must be set together`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`${prefix}_URL is not a URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${prefix}_URL must be an http(s) URL`)
  if (!isValidDid(did)) throw new ConfigError(`${prefix}_DID is not a DID`)
  return { url: parsed.origin, did }
}

type Secrets = {
  plcRotationKeyHex: string
  jwtSecret: string
  adminPassword: string
}

/**
 * Shortest JWT secret or admin password accepted. Reference-PDS installs make theirs with
 * `openssl rand --hex 16` (32 characters), so 16 keeps every such pds.env working while
 * refusing the empty and toy values a typo or a half-edited file leaves behind.
 */
export const MIN_SECRET_LENGTH = 16

type SecretSpec = {
  key: keyof Secrets
  variable: string
  file: string
  /** what a good value is, and a command that makes one */
  wanted: string
  generate(): string
  /** why a value is unusable, or undefined */
  problem(value: string): string | undefined
}

const lengthProblem = (value: string) =>
  value === '' ? 'is empty' : value.length < MIN_SECRET_LENGTH ? `is shorter than ${MIN_SECRET_LENGTH} characters` : undefined

const SPECS: SecretSpec[] = [
  {
    key: 'plcRotationKeyHex',
    variable: 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX',
    file: 'plc-rotation-key.hex',
    wanted: 'a secp256k1 private key (e.g. `openssl rand -hex 32`)',
    generate: () => randomBytes(32).toString('hex'),
    problem: (value) =>
      value === ''
        ? 'is empty'
        : !/^[0-9a-f]{64}$/.test(value) || !secp256k1.privateKeyVerify(Buffer.from(value, 'hex'))
          ? 'is not a secp256k1 private key (64 lowercase hex characters)'
          : undefined,
  },
  {
    key: 'jwtSecret',
    variable: 'PDS_JWT_SECRET',
    file: 'jwt-secret',
    wanted: `at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`,
    generate: () => randomBytes(32).toString('hex'),
    problem: lengthProblem,
  },
  {
    key: 'adminPassword',
    variable: 'PDS_ADMIN_PASSWORD',
    file: 'admin-password',
    wanted: `at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 16\`)`,
    generate: () => randomBytes(16).toString('hex'),
    problem: lengthProblem,
  },
]

/**
 * The server's secrets, each from its environment variable when that is set (even to an empty
 * value), else from `<data>/secrets/<file>`, else generated once into that file (folder 0700,
 * file 0600) so that restarts keep sessions and DIDs working. Every value is checked before
 * anything is created, so a refused start-up leaves the data directory as it was.
 */
function loadSecrets(env: Record<string, string | undefined>, dataDirectory: string): Secrets {
  const dir = join(dataDirectory, 'secrets')
  const found: Partial<Secrets> = {}
  for (const spec of SPECS) {
    const fromEnv = env[spec.variable]
    if (fromEnv !== undefined) {
      const problem = spec.problem(fromEnv)
      if (problem) {
        throw new ConfigError(`${spec.variable} ${problem}: set it to ${spec.wanted}, or unset it to have one generated into ${join(dir, spec.file)}`)
      }
      found[spec.key] = fromEnv
      continue
    }
    const path = join(dir, spec.file)
    if (!existsSync(path)) continue
    const fromFile = readFileSync(path, 'utf8').trim()
    const problem = spec.problem(fromFile)
    if (problem) {
      throw new ConfigError(`${path} ${problem}: restore it from a backup, write ${spec.wanted} into it, or set ${spec.variable}`)
    }
    found[spec.key] = fromFile
  }
  for (const spec of SPECS) {
    if (found[spec.key] !== undefined) continue
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    found[spec.key] = writeSecretFile(join(dir, spec.file), spec.generate())
  }
  return found as Secrets
}

/** Where the server keeps (or would generate) secret `key` when its variable is unset. */
export function secretFilePath(dataDirectory: string, key: keyof Secrets): string {
  return join(dataDirectory, 'secrets', SPECS.find((spec) => spec.key === key)!.file)
}

/** Written beside and renamed into place: a crash never leaves an empty or partial secret file. */
function writeSecretFile(path: string, value: string): string {
  const temp = `${path}.tmp`
  writeFileSync(temp, value + '\n', { mode: 0o600, flush: true })
  renameSync(temp, path)
  return value
}

/**
 * PDS_EMAIL_SMTP_URL and PDS_EMAIL_FROM_ADDRESS, both or neither (the reference PDS quietly sends
 * no mail with only one; here that is a start-up error, as no one sets one of them meaning none).
 * The URL is checked before start-up, never printed: it may hold the SMTP password.
 */
function mailSettings(env: Env): { emailSmtpUrl: string | undefined; emailFromAddress: string | undefined } {
  const emailSmtpUrl = env.PDS_EMAIL_SMTP_URL?.trim() || undefined
  const emailFromAddress = env.PDS_EMAIL_FROM_ADDRESS?.trim() || undefined
  if (emailSmtpUrl && !emailFromAddress) throw new ConfigError('PDS_EMAIL_SMTP_URL is set but PDS_EMAIL_FROM_ADDRESS is not: set both to send mail, or neither')
  if (emailFromAddress && !emailSmtpUrl) throw new ConfigError('PDS_EMAIL_FROM_ADDRESS is set but PDS_EMAIL_SMTP_URL is not: set both to send mail, or neither')
  if (emailSmtpUrl) {
    let protocol = ''
    try {
      protocol = new URL(emailSmtpUrl).protocol
    } catch {
      // reported below
    }
    if (protocol !== 'smtp:' && protocol !== 'smtps:') {
      throw new ConfigError('PDS_EMAIL_SMTP_URL is not an smtp:// or smtps:// URL (e.g. smtps://user:password@smtp.example.com)')
    }
  }
  return { emailSmtpUrl, emailFromAddress }
}

/** The data directory and the database in it, as the server finds them (`npm run reindex` too). */
export function dataPaths(env: Env = process.env): { dataDirectory: string; dbPath: string } {
  const dataDirectory = resolve(env.PDS_DATA_DIRECTORY || './data')
  return { dataDirectory, dbPath: join(dataDirectory, 'carrel.sqlite') }
}

/**
 * Variables the reference PDS reads that Carrel does not (yet), by why. A reference `pds.env`
 * starts Carrel unchanged: these are named in the start-up log and otherwise left alone. Whoever
 * makes Carrel read one removes it here (tests/env-docs.test.ts keeps the README's list in step).
 */
export const IGNORED_REFERENCE_VARIABLES: Record<string, string[]> = {
  'other proxying and moderation settings': [
    'PDS_BSKY_APP_VIEW_CDN_URL_PATTERN',
    'PDS_MOD_SERVICE_URL',
    'PDS_MOD_SERVICE_DID',
    'PDS_PROXY_MAX_RETRIES',
    'PDS_PROXY_PREFER_COMPRESSED',
    'PDS_PROXY_ALLOW_HTTP2',
    'PDS_FETCH_MAX_RESPONSE_SIZE',
    'PDS_LEXICON_AUTHORITY_DID',
  ],
  'a separate mailer for moderation (one mail server sends everything)': [
    'PDS_MODERATION_EMAIL_SMTP_URL',
    'PDS_MODERATION_EMAIL_ADDRESS',
    'PDS_EMAIL_DISABLE_CONFIRMATION_LINK',
  ],
  'rate limits kept in Redis (Carrel keeps its counters in memory)': [
    'PDS_REDIS_SCRATCH_ADDRESS',
    'PDS_REDIS_SCRATCH_PASSWORD',
  ],
  'storage laid out differently (one SQLite file in PDS_DATA_DIRECTORY, blobs on disk)': [
    'PDS_ACCOUNT_DB_LOCATION',
    'PDS_SEQUENCER_DB_LOCATION',
    'PDS_DID_CACHE_DB_LOCATION',
    'PDS_ACTOR_STORE_DIRECTORY',
    'PDS_ACTOR_STORE_CACHE_SIZE',
    'PDS_BLOBSTORE_DISK_TMP_LOCATION',
    'PDS_SQLITE_DISABLE_WAL_AUTO_CHECKPOINT',
  ],
  'blobs in S3 (Carrel keeps blobs on disk)': [
    'PDS_BLOBSTORE_S3_BUCKET',
    'PDS_BLOBSTORE_S3_REGION',
    'PDS_BLOBSTORE_S3_ENDPOINT',
    'PDS_BLOBSTORE_S3_FORCE_PATH_STYLE',
    'PDS_BLOBSTORE_S3_ACCESS_KEY_ID',
    'PDS_BLOBSTORE_S3_SECRET_ACCESS_KEY',
    'PDS_BLOBSTORE_S3_UPLOAD_TIMEOUT_MS',
    'PDS_BLOBSTORE_S3_REQUEST_TIMEOUT_MS',
  ],
  'OAuth, its sign-in pages and their branding (not served yet)': [
    'PDS_DPOP_SECRET',
    'PDS_OAUTH_TRUSTED_CLIENTS',
    'PDS_SERVICE_NAME',
    'PDS_HOME_URL',
    'PDS_SUPPORT_URL',
    'PDS_LOGO_URL',
    'PDS_PRIMARY_COLOR',
    'PDS_ERROR_COLOR',
    'PDS_WARNING_COLOR',
    'PDS_INFO_COLOR',
    'PDS_SUCCESS_COLOR',
    'PDS_BACKGROUND_LIGHT_URL',
    'PDS_BACKGROUND_DARK_URL',
    'PDS_HCAPTCHA_SITE_KEY',
    'PDS_HCAPTCHA_SECRET_KEY',
    'PDS_HCAPTCHA_TOKEN_SALT',
  ],
  'entryway (a PDS behind a shared sign-in service)': [
    'PDS_ENTRYWAY_URL',
    'PDS_ENTRYWAY_DID',
    'PDS_ENTRYWAY_ADMIN_TOKEN',
    'PDS_ENTRYWAY_PLC_ROTATION_KEY',
    'PDS_ENTRYWAY_JWT_VERIFY_KEY_K256_PUBLIC_KEY_HEX',
  ],
  'identity caching and resolution tuning (Carrel has its own fixed bounds)': [
    'PDS_DID_CACHE_STALE_TTL',
    'PDS_DID_CACHE_MAX_TTL',
    'PDS_ID_RESOLVER_TIMEOUT',
    'PDS_HANDLE_BACKUP_NAMESERVERS',
    'PDS_RECOVERY_DID_KEY',
    'PDS_ENABLE_DID_DOC_WITH_SESSION',
  ],
  'other reference settings': [
    'PDS_VERSION',
    'PDS_MAX_SUBSCRIPTION_BUFFER',
    'PDS_ACCEPTING_REPO_IMPORTS',
    'PDS_PLC_ROTATION_KEY_KMS_KEY_ID',
    'LOG_DESTINATION',
    'LOG_SYSTEMS',
  ],
}

/** LOG_LEVEL, unless the reference's LOG_ENABLED turns logging off. */
function logLevel(env: Env): string {
  if (env.LOG_ENABLED !== undefined && env.LOG_ENABLED !== '' && !bool(env.LOG_ENABLED, true)) return 'silent'
  return env.LOG_LEVEL || (env.NODE_ENV === 'test' ? 'silent' : 'info')
}

function metricsPort(env: Env, port: number): number | undefined {
  if (env.PDS_METRICS_PORT === undefined || env.PDS_METRICS_PORT === '') return undefined
  const metrics = int(env.PDS_METRICS_PORT, 0)
  if (metrics !== 0 && metrics === port) throw new ConfigError('PDS_METRICS_PORT must differ from PDS_PORT: /metrics has a listener of its own, on 127.0.0.1')
  if (metrics > 65535) throw new ConfigError('PDS_METRICS_PORT must be a TCP port (1-65535, or 0 for any free port)')
  return metrics
}

export async function loadConfig(env: Env = process.env): Promise<Config> {
  const hostname = (env.PDS_HOSTNAME || 'localhost').toLowerCase()
  const port = int(env.PDS_PORT, 2583)
  const devMode = bool(env.PDS_DEV_MODE, false) || hostname === 'localhost'
  const publicUrl = devMode ? `http://localhost:${port}` : `https://${hostname}`
  const { dataDirectory, dbPath } = dataPaths(env)
  const mail = mailSettings(env)
  // checked (a malformed key fails here, not at the first createAccount) before anything is created
  const secrets = loadSecrets(env, dataDirectory)
  // owner-only when we create it; an existing directory keeps the mode its owner gave it
  mkdirSync(dataDirectory, { recursive: true, mode: 0o700 })

  const handleDomains = list(env.PDS_SERVICE_HANDLE_DOMAINS).map((d) =>
    d.startsWith('.') ? d.toLowerCase() : `.${d.toLowerCase()}`,
  )
  const plcUrl = env.PDS_DID_PLC_URL || undefined

  return {
    version: VERSION,
    port,
    hostname,
    publicUrl,
    serviceDid: env.PDS_SERVICE_DID || `did:web:${hostname}`,
    devMode,
    dataDirectory,
    dbPath,
    blobstoreLocation: resolve(env.PDS_BLOBSTORE_DISK_LOCATION || join(dataDirectory, 'blobs')),
    blobUploadLimit: int(env.PDS_BLOB_UPLOAD_LIMIT, 5 * 1024 * 1024),
    // unset: the blob upload limit, as the reference PDS falls back to it
    // the import streams through staging tables, never into memory: a default that real accounts
    // moving here fit in (a 100,000-record repo is ~26 MB as a CAR)
    maxImportSize: int(env.PDS_MAX_REPO_IMPORT_SIZE, 256 * 1024 * 1024),
    blobTempGraceMs: int(env.PDS_BLOB_TEMP_GRACE_MS, 60 * 60 * 1000),
    blobSweepIntervalMs: int(env.PDS_BLOB_SWEEP_INTERVAL_MS, 10 * 60 * 1000),
    jsonBodyLimit: int(env.PDS_JSON_BODY_LIMIT, 1024 * 1024 * 2),
    requestTimeoutMs: int(env.PDS_REQUEST_TIMEOUT_MS, 30_000),
    plcUrl,
    plcRotationKeyHex: secrets.plcRotationKeyHex,
    jwtSecret: secrets.jwtSecret,
    adminPassword: secrets.adminPassword,
    inviteRequired: bool(env.PDS_INVITE_REQUIRED, false),
    inviteInterval: env.PDS_INVITE_INTERVAL ? positiveInt(env.PDS_INVITE_INTERVAL, 'PDS_INVITE_INTERVAL') : null,
    inviteEpoch: int(env.PDS_INVITE_EPOCH, 0),
    serviceHandleDomains: handleDomains.length > 0 ? handleDomains : devMode ? ['.test'] : [`.${hostname}`],
    contactEmail: env.PDS_CONTACT_EMAIL_ADDRESS || undefined,
    privacyPolicyUrl: env.PDS_PRIVACY_POLICY_URL || undefined,
    termsOfServiceUrl: env.PDS_TERMS_OF_SERVICE_URL || undefined,
    crawlers: list(env.PDS_CRAWLERS),
    repoBackfillLimitMs: int(env.PDS_REPO_BACKFILL_LIMIT_MS, 24 * 60 * 60 * 1000),
    syncChangesRetentionMs: int(env.PDS_SYNC_CHANGES_RETENTION_MS, 30 * 24 * 60 * 60 * 1000),
    firehoseQueueLength: int(env.PDS_FIREHOSE_QUEUE_LENGTH, 500),
    firehoseMaxSubscribers: int(env.PDS_FIREHOSE_MAX_SUBSCRIBERS, 1000),
    firehoseStallTimeoutMs: int(env.PDS_FIREHOSE_STALL_TIMEOUT_MS, 60_000),
    exportLimits: {
      maxConcurrent: int(env.PDS_EXPORT_MAX_CONCURRENT, 32),
      maxConcurrentPerIp: int(env.PDS_EXPORT_MAX_CONCURRENT_PER_IP, 8),
      stallTimeoutMs: int(env.PDS_EXPORT_STALL_TIMEOUT_MS, 30_000),
      maxSnapshotAgeMs: int(env.PDS_EXPORT_MAX_SNAPSHOT_AGE_MS, 10 * 60 * 1000),
    },
    maxApplyWrites: 200,
    logLevel: logLevel(env),
    plcPort: int(env.PDS_PLC_PORT, 2582),
    accessTokenLifetimeMs: int(env.PDS_ACCESS_TOKEN_LIFETIME_MS, 2 * 60 * 60 * 1000),
    refreshTokenLifetimeMs: int(env.PDS_REFRESH_TOKEN_LIFETIME_MS, 90 * 24 * 60 * 60 * 1000),
    refreshTokenGraceMs: int(env.PDS_REFRESH_TOKEN_GRACE_MS, 2 * 60 * 1000),
    loginRateLimit: {
      windowMs: int(env.PDS_LOGIN_RATE_LIMIT_WINDOW_MS, 5 * 60 * 1000),
      perAccountAndIp: int(env.PDS_LOGIN_RATE_LIMIT_PER_ACCOUNT, 10),
      perAccount: int(env.PDS_LOGIN_RATE_LIMIT_ACCOUNT_CEILING, 100),
      perIp: int(env.PDS_LOGIN_RATE_LIMIT_PER_IP, 30),
    },
    // as the reference PDS limits createAccount: 100 per client IP in 5 minutes
    createAccountRateLimit: {
      windowMs: int(env.PDS_CREATE_ACCOUNT_RATE_LIMIT_WINDOW_MS, 5 * 60 * 1000),
      perIp: int(env.PDS_CREATE_ACCOUNT_RATE_LIMIT_PER_IP, 100),
    },
    rateLimits: {
      enabled: bool(env.PDS_RATE_LIMITS_ENABLED, false),
      bypassKey: env.PDS_RATE_LIMIT_BYPASS_KEY || undefined,
      bypassIps: ipList('PDS_RATE_LIMIT_BYPASS_IPS', env.PDS_RATE_LIMIT_BYPASS_IPS),
      // the reference's numbers
      globalPerIp: { points: int(env.PDS_RATE_LIMIT_GLOBAL_PER_IP, 3000), windowMs: int(env.PDS_RATE_LIMIT_GLOBAL_WINDOW_MS, 5 * 60 * 1000) },
      writePointsPerHour: int(env.PDS_RATE_LIMIT_WRITE_POINTS_PER_HOUR, 5000),
      writePointsPerDay: int(env.PDS_RATE_LIMIT_WRITE_POINTS_PER_DAY, 35_000),
      maxKeys: Math.max(1, int(env.PDS_RATE_LIMIT_MAX_KEYS, 50_000)),
    },
    disableSsrfProtection: bool(env.PDS_DISABLE_SSRF_PROTECTION, false),
    libraryIndex: bool(env.PDS_LIBRARY_INDEX, true),
    ...mail,
    // Docker stops a container with SIGKILL 10 s after SIGTERM: draining and closing fit inside
    shutdownGraceMs: int(env.PDS_SHUTDOWN_GRACE_MS, 8_000),
    metricsPort: metricsPort(env, port),
    ignoredReferenceVariables: Object.values(IGNORED_REFERENCE_VARIABLES)
      .flat()
      .filter((name) => env[name] !== undefined && env[name] !== ''),
    bskyAppView: serviceRef('PDS_BSKY_APP_VIEW', env.PDS_BSKY_APP_VIEW_URL, env.PDS_BSKY_APP_VIEW_DID),
    bskyChat: serviceRef('PDS_BSKY_CHAT', env.PDS_BSKY_CHAT_URL, env.PDS_BSKY_CHAT_DID),
    reportService: serviceRef('PDS_REPORT_SERVICE', env.PDS_REPORT_SERVICE_URL, env.PDS_REPORT_SERVICE_DID),
    // the reference's defaults
    proxy: {
      headersTimeoutMs: int(env.PDS_PROXY_HEADERS_TIMEOUT, 10_000),
      bodyTimeoutMs: int(env.PDS_PROXY_BODY_TIMEOUT, 30_000),
      maxResponseBytes: int(env.PDS_PROXY_MAX_RESPONSE_SIZE, 10 * 1024 * 1024),
    },
  }
}
