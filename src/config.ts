import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
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
  /** fetch hosts that clients name (handles, did:web) even at non-public addresses */
  disableSsrfProtection: boolean
  /** keep the library index (searchBooks, getStats) in each commit; off: those answer 501 */
  libraryIndex: boolean
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

/** A configuration the server refuses to start with; the message names the variable or file, never a value. */
export class ConfigError extends Error {}

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

/** Written beside and renamed into place: a crash never leaves an empty or partial secret file. */
function writeSecretFile(path: string, value: string): string {
  const temp = `${path}.tmp`
  writeFileSync(temp, value + '\n', { mode: 0o600, flush: true })
  renameSync(temp, path)
  return value
}

/** The data directory and the database in it, as the server finds them (`npm run reindex` too). */
export function dataPaths(env: Env = process.env): { dataDirectory: string; dbPath: string } {
  const dataDirectory = resolve(env.PDS_DATA_DIRECTORY || './data')
  return { dataDirectory, dbPath: join(dataDirectory, 'carrel.sqlite') }
}

export async function loadConfig(env: Env = process.env): Promise<Config> {
  const hostname = (env.PDS_HOSTNAME || 'localhost').toLowerCase()
  const port = int(env.PDS_PORT, 2583)
  const devMode = bool(env.PDS_DEV_MODE, false) || hostname === 'localhost'
  const publicUrl = devMode ? `http://localhost:${port}` : `https://${hostname}`
  const { dataDirectory, dbPath } = dataPaths(env)
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
    libraryIndex: bool(env.PDS_LIBRARY_INDEX, true),
  }
}
