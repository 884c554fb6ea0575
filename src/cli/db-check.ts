import { createHash } from 'node:crypto'
import Database from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import type { Lexicons } from '@atproto/lexicon'
import { parseCid } from '@atproto/lex-data'
import { cidToString } from '../repo/cid.js'
import { ImportVerifier } from '../repo/import-verify.js'
import type { ImportStaging } from '../repo/import-staging.js'
import { SigningKey } from '../repo/signing-key.js'
import { Progress } from './progress.js'

const SHA2_256 = 0x12

/** One thing wrong: where (the database, or a repo and the block in it) and what. */
export type Fault = { where: string; what: string }

export type CheckReport = { ok: boolean; repos: number; blocks: number; records: number; faults: Fault[] }

type Root = { did: string; cid: string; rev: string; data_cid: string }

/**
 * `carrel db check`: SQLite's `PRAGMA integrity_check`, then every repository: each block's CID
 * against its bytes (SHA-256), the commit (its signature against the account's signing key, the
 * key its DID document names while the identity is healthy; its rev and data against the repo
 * root), and the MST walked from the commit: every node present and canonical (ImportVerifier,
 * which importRepo uses on incoming repositories), every record present and the record table
 * holding exactly the tree's records. Reads only; reports every repo's first fault.
 */
export async function checkDatabase(dbPath: string, lexicons: Lexicons, opts: { progress?: boolean } = {}): Promise<CheckReport> {
  const sqlite = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    const faults: Fault[] = []
    for (const line of sqlite.pragma('integrity_check', { simple: false }) as { integrity_check: string }[]) {
      if (line.integrity_check !== 'ok') faults.push({ where: 'database', what: `integrity_check: ${line.integrity_check}` })
    }
    const roots = sqlite.prepare('SELECT did, cid, rev, data_cid FROM repo_root ORDER BY did').all() as Root[]
    for (const did of sqlite.prepare('SELECT did FROM account WHERE did NOT IN (SELECT did FROM repo_root) ORDER BY did').pluck().all() as string[]) {
      faults.push({ where: did, what: 'the account has no repository (no repo_root row)' })
    }
    const progress = new Progress('db check', roots.length, opts.progress)
    let blocks = 0
    let records = 0
    for (const [i, root] of roots.entries()) {
      progress.update(i, root.did)
      const repo = await checkRepo(sqlite, lexicons, root)
      blocks += repo.blocks
      records += repo.records
      faults.push(...repo.faults)
    }
    progress.update(roots.length)
    progress.done()
    return { ok: faults.length === 0, repos: roots.length, blocks, records, faults }
  } finally {
    sqlite.close()
  }
}

async function checkRepo(sqlite: Database.Database, lexicons: Lexicons, root: Root): Promise<{ blocks: number; records: number; faults: Fault[] }> {
  const { did } = root
  const faults: Fault[] = []
  let blocks = 0
  for (const row of sqlite.prepare('SELECT cid, content FROM repo_block WHERE did = ?').iterate(did) as Iterable<{ cid: string; content: Buffer }>) {
    blocks++
    const problem = blockProblem(row.cid, row.content)
    if (problem) faults.push({ where: `${did} block ${row.cid}`, what: problem })
  }

  const account = sqlite.prepare('SELECT signing_key FROM account WHERE did = ?').get(did) as { signing_key: Buffer } | undefined
  if (!account) {
    faults.push({ where: did, what: 'a repository without an account row' })
    return { blocks, records: 0, faults }
  }
  const signingKey = (await SigningKey.fromPrivateKey(account.signing_key)).did()
  const blockStmt = sqlite.prepare('SELECT content FROM repo_block WHERE did = ? AND cid = ?').pluck()
  const recordStmt = sqlite.prepare('SELECT cid FROM record WHERE did = ? AND collection = ? AND rkey = ?').pluck()
  let leaves = 0
  const leafFaults: Fault[] = []
  // the verifier reads blocks and reports what the tree reaches through its staging's methods
  const staging = {
    flush() {},
    block: (cid: string) => (blockStmt.get(did, cid) as Buffer | undefined) ?? undefined,
    addNode() {},
    addLeaf(collection: string, rkey: string, cid: string) {
      leaves++
      const indexed = recordStmt.get(did, collection, rkey) as string | undefined
      if (indexed !== cid) {
        leafFaults.push({ where: `${did} record ${collection}/${rkey}`, what: indexed ? `the record table says ${indexed}, the tree ${cid}` : 'in the tree but not in the record table' })
      }
    },
  }
  try {
    const verified = await new ImportVerifier(staging as unknown as ImportStaging, lexicons).verify({ root: parseCid(root.cid), did, signingKey })
    if (verified.commit.rev !== root.rev) faults.push({ where: `${did} commit ${root.cid}`, what: `rev ${verified.commit.rev}, but the repo root says ${root.rev}` })
    const data = cidToString(verified.commit.data)
    if (data !== root.data_cid) {
      faults.push({ where: `${did} commit ${root.cid}`, what: `data ${data}, but the repo root says ${root.data_cid}` })
    }
  } catch (err) {
    faults.push({ where: `${did} commit ${root.cid}`, what: (err as Error).message })
    return { blocks, records: leaves, faults }
  }
  faults.push(...leafFaults)
  const indexed = sqlite.prepare('SELECT count(*) FROM record WHERE did = ?').pluck().get(did) as number
  if (indexed !== leaves) faults.push({ where: did, what: `the record table holds ${indexed} records, the tree ${leaves}` })
  return { blocks, records: leaves, faults }
}

/** Why a block's bytes do not match its CID, or undefined. */
function blockProblem(cidStr: string, content: Buffer): string | undefined {
  let cid: CID
  try {
    cid = CID.parse(cidStr)
  } catch {
    return 'the CID does not parse'
  }
  if (cid.multihash.code !== SHA2_256) return `an unexpected hash function (0x${cid.multihash.code.toString(16)})`
  const digest = createHash('sha256').update(content).digest()
  if (!Buffer.from(cid.multihash.digest).equals(digest)) {
    return `the bytes do not match the CID (their SHA-256 is ${digest.toString('hex')})`
  }
  return undefined
}
