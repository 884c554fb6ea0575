import type { Lexicons } from '@atproto/lexicon'
import { isValidTid } from '@atproto/syntax'
import { cidToString } from '../../repo/cid.js'
import type { RecordValue } from '../../repo/types.js'
import { isValidRecord } from '../valid-record.js'
import { isPrerelease, parseVersion, versionKey } from './semver.js'
import {
  blobSha256,
  INSTALL_COLLECTION,
  installRuleViolation,
  RELEASE_COLLECTION,
  releaseRuleViolation,
  releaseUriParts,
} from './update-rules.js'

// What the update tables keep of a record: pure functions of (did, rkey, cid, record), so that a
// rebuild makes the same rows as the commit hook did. A record that is not valid (written with
// validate: false) stays in the repo but is not indexed: it is never offered nor counted.

export type FileRow = { platform: string; arch: string; cid: string; sha256: string; size: number }
export type ArtifactRow = FileRow & { fileName: string; minOsVersion: string | null }
export type DeltaRow = FileRow & { fromVersion: string; format: string }

export type ReleaseEntry = {
  did: string
  rkey: string
  cid: string
  product: string
  version: string
  versionKey: string
  prerelease: boolean
  channel: string
  updateType: string
  priority: number
  rolloutPercent: number
  rollbackSupported: boolean
  yanked: boolean
  yankReason: string | null
  publishedAt: string
  changelog: string | null
  artifacts: ArtifactRow[]
  deltas: DeltaRow[]
}

export type InstallEntry = {
  did: string
  rkey: string
  cid: string
  releaseDid: string
  releaseRkey: string
  releaseCid: string
  product: string
  device: string
  fromVersion: string | null
  toVersion: string
  method: string
  status: string
  errorCode: string | null
  startedAt: string | null
  completedAt: string | null
  updatedAt: string | null
  createdAt: string
}

type Blob = { ref: Parameters<typeof cidToString>[0]; size: number }
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)

function fileRow(e: Record<string, unknown>): FileRow {
  const blob = e.blob as Blob
  return { platform: e.platform as string, arch: e.arch as string, cid: cidToString(blob.ref), sha256: blobSha256(blob)!, size: blob.size }
}

/** Whether the entry must validate the record itself: not when the write path just did (a RecordOp's `validated`). */
type EntryOpts = { validated?: boolean }

export function releaseEntry(lexicons: Lexicons, did: string, rkey: string, cid: string, record: RecordValue, opts: EntryOpts = {}): ReleaseEntry | null {
  if (!opts.validated && !isValidRecord(lexicons, RELEASE_COLLECTION, record)) return null
  if (releaseRuleViolation(rkey, record)) return null
  const r = record as Record<string, unknown>
  const version = parseVersion(r.version as string)!
  return {
    did,
    rkey,
    cid,
    product: r.product as string,
    version: r.version as string,
    versionKey: versionKey(version),
    prerelease: isPrerelease(version),
    channel: r.channel as string,
    updateType: r.updateType as string,
    priority: (r.priority as number | undefined) ?? 0,
    rolloutPercent: (r.rolloutPercent as number | undefined) ?? 100,
    rollbackSupported: r.rollbackSupported === true,
    yanked: r.yanked === true,
    yankReason: str(r.yankReason),
    publishedAt: r.publishedAt as string,
    changelog: str(r.changelog),
    artifacts: (r.artifacts as Record<string, unknown>[]).map((a) => ({ ...fileRow(a), fileName: a.fileName as string, minOsVersion: str(a.minOsVersion) })),
    deltas: ((r.deltas as Record<string, unknown>[] | undefined) ?? []).map((d) => ({ ...fileRow(d), fromVersion: d.fromVersion as string, format: d.format as string })),
  }
}

export function installEntry(lexicons: Lexicons, did: string, rkey: string, cid: string, record: RecordValue, opts: EntryOpts = {}): InstallEntry | null {
  if (!isValidTid(rkey) || (!opts.validated && !isValidRecord(lexicons, INSTALL_COLLECTION, record)) || installRuleViolation(record)) return null
  const r = record as Record<string, unknown>
  const release = r.release as { uri: string; cid: string }
  const parts = releaseUriParts(release.uri)!
  return {
    did,
    rkey,
    cid,
    releaseDid: parts.did,
    releaseRkey: parts.rkey,
    releaseCid: release.cid,
    product: parts.product,
    device: r.device as string,
    fromVersion: str(r.fromVersion),
    toVersion: r.toVersion as string,
    method: r.method as string,
    status: r.status as string,
    errorCode: str(r.errorCode),
    startedAt: str(r.startedAt),
    completedAt: str(r.completedAt),
    updatedAt: str(r.updatedAt),
    createdAt: r.createdAt as string,
  }
}
