// What the update lexicons cannot say, checked on every write to their collections (a commit
// hook's `check`), whatever `validate` says: a release's key is '<product>:<version>' with a
// semantic version, and every artifact and delta states its blob's own SHA-256 and size; an
// install names a release record and that release's version.
import { compareVersions, parseVersion } from './semver.js'
import { isObject, type RuleViolation } from '../record-index.js'

export const RELEASE_COLLECTION = 'app.carrel.update.release'
export const INSTALL_COLLECTION = 'app.carrel.update.install'


const PRODUCT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const RAW = 0x55
const SHA2_256 = 0x12


type CidLike = { code: number; multihash: { code: number; digest: Uint8Array } }

function blobCid(blob: unknown): CidLike | undefined {
  if (!isObject(blob) || blob.$type !== 'blob' || !isObject(blob.ref)) return undefined
  const ref = blob.ref as Partial<CidLike>
  return typeof ref.code === 'number' && ref.multihash ? (ref as CidLike) : undefined
}

/** The SHA-256 (lowercase hex) of a blob's bytes, read from its CID (raw codec, sha2-256); undefined for another kind of CID. */
export function blobSha256(blob: unknown): string | undefined {
  const cid = blobCid(blob)
  if (!cid || cid.code !== RAW || cid.multihash.code !== SHA2_256) return undefined
  return Buffer.from(cid.multihash.digest).toString('hex')
}

/** Why one artifact or delta entry's sha256 or size is not its blob's, or undefined. */
function fileEntryViolation(entry: unknown, path: string): RuleViolation | undefined {
  if (!isObject(entry) || !isObject(entry.blob)) return undefined
  const digest = blobSha256(entry.blob)
  if (digest === undefined) return { path: `${path}/blob`, problem: 'must be a blob (a raw CID with a sha2-256 digest)' }
  if (entry.sha256 !== digest) return { path: `${path}/sha256`, problem: `does not match the blob: its SHA-256 is ${digest}` }
  if (entry.size !== entry.blob.size) return { path: `${path}/size`, problem: `does not match the blob: it is ${String(entry.blob.size)} bytes` }
  return undefined
}

/** The first rule a release record breaks, with why; undefined if none. */
export function releaseRuleViolation(rkey: string, record: Record<string, unknown>): RuleViolation | undefined {
  const { product, version } = record
  if (typeof product === 'string' && !PRODUCT.test(product)) {
    return { path: 'product', problem: "must be ASCII letters, digits, '.', '_' and '-', starting with a letter or digit" }
  }
  const parsed = typeof version === 'string' ? parseVersion(version) : undefined
  if (typeof version === 'string' && parsed === undefined) {
    return { path: 'version', problem: 'must be a semantic version without build metadata (e.g. 2.4.1 or 2.5.0-beta.2)' }
  }
  if (typeof product === 'string' && typeof version === 'string' && rkey !== `${product}:${version}`) {
    return { path: 'version', problem: `and product must make the record key: '${product}:${version}', not '${rkey}'` }
  }
  const platforms = new Set<string>()
  const artifacts = Array.isArray(record.artifacts) ? record.artifacts : []
  for (let i = 0; i < artifacts.length; i++) {
    const a = artifacts[i]
    const violation = fileEntryViolation(a, `artifacts/${i}`)
    if (violation) return violation
    if (isObject(a)) {
      const key = `${String(a.platform)}/${String(a.arch)}`
      if (platforms.has(key)) return { path: `artifacts/${i}`, problem: `is a second artifact for ${key}` }
      platforms.add(key)
    }
  }
  const deltas = Array.isArray(record.deltas) ? record.deltas : []
  const seen = new Set<string>()
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i]
    const violation = fileEntryViolation(d, `deltas/${i}`)
    if (violation) return violation
    if (!isObject(d)) continue
    if (typeof d.fromVersion === 'string') {
      const from = parseVersion(d.fromVersion)
      if (from === undefined) return { path: `deltas/${i}/fromVersion`, problem: 'must be a semantic version without build metadata' }
      if (parsed !== undefined && compareVersions(from, parsed) >= 0) return { path: `deltas/${i}/fromVersion`, problem: `must be lower than the release's version ${String(version)}` }
    }
    const key = `${String(d.fromVersion)} ${String(d.platform)}/${String(d.arch)}`
    if (seen.has(key)) return { path: `deltas/${i}`, problem: `is a second delta from ${key}` }
    seen.add(key)
  }
  return undefined
}

/** The parts of a release record's AT-URI, or undefined when it does not name a release. */
export function releaseUriParts(uri: string): { did: string; rkey: string; product: string; version: string } | undefined {
  const m = /^at:\/\/(did:[a-z]+:[a-zA-Z0-9._:%-]+)\/app\.carrel\.update\.release\/([^/:]+):([^/]+)$/.exec(uri)
  if (!m) return undefined
  return { did: m[1]!, rkey: `${m[2]}:${m[3]}`, product: m[2]!, version: m[3]! }
}

/** The first rule an install record breaks, with why; undefined if none. */
export function installRuleViolation(record: Record<string, unknown>): RuleViolation | undefined {
  const release = record.release
  if (isObject(release) && typeof release.uri === 'string') {
    const parts = releaseUriParts(release.uri)
    if (!parts || parseVersion(parts.version) === undefined) {
      return { path: 'release/uri', problem: `must be the AT-URI of an ${RELEASE_COLLECTION} record (at://<DID>/${RELEASE_COLLECTION}/<product>:<version>)` }
    }
    if (typeof record.toVersion === 'string' && record.toVersion !== parts.version) {
      return { path: 'toVersion', problem: `must be the release's version, ${parts.version}` }
    }
  }
  if (typeof record.fromVersion === 'string' && parseVersion(record.fromVersion) === undefined) {
    return { path: 'fromVersion', problem: 'must be a semantic version without build metadata' }
  }
  return undefined
}
