import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'

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
  serviceHandleDomains: string[]
  contactEmail: string | undefined
  privacyPolicyUrl: string | undefined
  termsOfServiceUrl: string | undefined
  crawlers: string[]
  repoBackfillLimitMs: number
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
  /** fetch hosts that clients name (handles, did:web) even at non-public addresses */
  disableSsrfProtection: boolean
}

export type ExportLimits = {
  maxConcurrent: number
  maxConcurrentPerIp: number
  /** a response whose client took nothing for this long is cut and its snapshot released */
  stallTimeoutMs: number
  /** a response still running after this long is cut and its snapshot released */
  maxSnapshotAgeMs: number
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

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

/**
 * A secret that is unset in embedded mode is generated once and kept in the data
 * directory (mode 0600), so restarts keep sessions and DIDs working.
 */
function persistedSecret(dataDir: string, name: string, make: () => string): string {
  const file = join(dataDir, 'secrets', name)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(join(dataDir, 'secrets'), { recursive: true, mode: 0o700 })
  const value = make()
  writeFileSync(file, value + '\n', { mode: 0o600 })
  return value
}

export async function loadConfig(env: Env = process.env): Promise<Config> {
  const hostname = (env.PDS_HOSTNAME || 'localhost').toLowerCase()
  const port = int(env.PDS_PORT, 2583)
  const devMode = bool(env.PDS_DEV_MODE, false) || hostname === 'localhost'
  const publicUrl = devMode ? `http://localhost:${port}` : `https://${hostname}`
  const dataDirectory = resolve(env.PDS_DATA_DIRECTORY || './data')
  mkdirSync(dataDirectory, { recursive: true })

  const rotationKeyHex =
    env.PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX ||
    persistedSecret(dataDirectory, 'plc-rotation-key.hex', () => {
      return randomBytes(32).toString('hex')
    })
  // fail early on a malformed key rather than at the first createAccount
  await Secp256k1Keypair.import(rotationKeyHex)

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
    dbPath: join(dataDirectory, 'carrel.sqlite'),
    blobstoreLocation: resolve(env.PDS_BLOBSTORE_DISK_LOCATION || join(dataDirectory, 'blobs')),
    blobUploadLimit: int(env.PDS_BLOB_UPLOAD_LIMIT, 5 * 1024 * 1024),
    blobTempGraceMs: int(env.PDS_BLOB_TEMP_GRACE_MS, 60 * 60 * 1000),
    blobSweepIntervalMs: int(env.PDS_BLOB_SWEEP_INTERVAL_MS, 10 * 60 * 1000),
    jsonBodyLimit: int(env.PDS_JSON_BODY_LIMIT, 1024 * 1024 * 2),
    requestTimeoutMs: int(env.PDS_REQUEST_TIMEOUT_MS, 30_000),
    plcUrl,
    plcRotationKeyHex: rotationKeyHex,
    jwtSecret:
      env.PDS_JWT_SECRET ||
      persistedSecret(dataDirectory, 'jwt-secret', () => randomBytes(32).toString('hex')),
    adminPassword:
      env.PDS_ADMIN_PASSWORD ||
      persistedSecret(dataDirectory, 'admin-password', () => randomBytes(16).toString('hex')),
    inviteRequired: bool(env.PDS_INVITE_REQUIRED, false),
    serviceHandleDomains: handleDomains.length > 0 ? handleDomains : devMode ? ['.test'] : [`.${hostname}`],
    contactEmail: env.PDS_CONTACT_EMAIL_ADDRESS || undefined,
    privacyPolicyUrl: env.PDS_PRIVACY_POLICY_URL || undefined,
    termsOfServiceUrl: env.PDS_TERMS_OF_SERVICE_URL || undefined,
    crawlers: list(env.PDS_CRAWLERS),
    repoBackfillLimitMs: int(env.PDS_REPO_BACKFILL_LIMIT_MS, 24 * 60 * 60 * 1000),
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
    logLevel: env.LOG_LEVEL || (env.NODE_ENV === 'test' ? 'silent' : 'info'),
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
    disableSsrfProtection: bool(env.PDS_DISABLE_SSRF_PROTECTION, false),
  }
}
