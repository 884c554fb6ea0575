import { setImmediate as nextTurn } from 'node:timers/promises'
import { TID } from '@atproto/common'
import { verifySignature } from '@atproto/crypto'
import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import type { Lexicons } from '@atproto/lexicon'
import { isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { encodeDagCbor } from '../dag-cbor.js'
import { cidToString } from './cid.js'
import { assertLexData, DataModelError } from './data-model.js'
import type { ImportStaging } from './import-staging.js'
import { encodeMstNodeData, type MstLeaf } from './mst-node-encoder.js'
import { keyHeight } from './mst-tree.js'
import { MAX_RECORD_BYTES, prepareRecordWrite } from './prepare.js'

const DAG_CBOR = 0x71
/** Records checked between two turns of the event loop (lexicon validation is the costly part). */
const RECORDS_PER_TURN = 128
/** MST keys are `<collection>/<rkey>` in these characters, at most this long (as the reference checks them). */
const MST_KEY_CHARS = /^[a-zA-Z0-9_~\-:.]+\/[a-zA-Z0-9_~\-:.]+$/
const MAX_MST_KEY_LENGTH = 1024
/** Relays refuse a rev more than 5 minutes ahead; the new commit's rev must come after the imported one. */
const MAX_REV_AHEAD_MS = 5 * 60_000

/** The imported commit: what the new one keeps (`data`) and must come after (`rev`). */
export type ImportedCommit = { did: string; rev: string; data: Cid }

export type VerifiedRepo = { commit: ImportedCommit; records: number; nodes: number }

function refuse(message: string): never {
  throw new InvalidRequestError(message)
}

function isCidLink(value: unknown): value is Cid {
  return typeof value === 'object' && value !== null && (value as { asCID?: unknown }).asCID === value
}

/** A link to a DAG-CBOR block (commit data, MST nodes, records), as the repository format requires. */
function assertCborLink(value: unknown, what: string): asserts value is Cid {
  if (!isCidLink(value) || value.version !== 1 || value.code !== DAG_CBOR) refuse(`${what} is not a CIDv1 link to a DAG-CBOR block`)
}

type DecodedNode = { l: unknown; e: unknown }
type DecodedEntry = { p: unknown; k: unknown; v: unknown; t: unknown }

/**
 * Checks a repository staged from a CAR before anything of it is stored: the root commit (v3,
 * of `did`, a TID rev) and its signature against `signingKey` (the `#atproto` key of the DID
 * document; low-S compact only), then the MST walked from the commit's data root, in key order:
 * every node present, encoded canonically (re-encoding it gives its bytes), each key at the layer
 * its hash gives and in strictly increasing order, no empty subtree (so the tree is the one
 * canonical tree of its keys, the one every implementation computes), every key a valid
 * `collection/rkey`; and every record it names present and valid as a record write is checked
 * (data model, `$type`, size; not the lexicon, see assertValidRecord) and canonically encoded.
 * The walk records in the staging which nodes and records the tree reaches. Throws
 * InvalidRequest naming the first problem.
 */
export class ImportVerifier {
  private lastKey = ''
  private records = 0
  private nodes = 0
  private did = ''

  constructor(
    private staging: ImportStaging,
    private lexicons: Lexicons,
  ) {}

  async verify(opts: { root: Cid; did: string; signingKey: string }): Promise<VerifiedRepo> {
    this.did = opts.did
    this.staging.flush()
    const commit = await this.verifyCommit(opts.root, opts.did, opts.signingKey)
    await this.walk(commit.data, undefined)
    this.staging.flush()
    return { commit, records: this.records, nodes: this.nodes }
  }

  private async verifyCommit(root: Cid, did: string, signingKey: string): Promise<ImportedCommit> {
    assertCborLink(root, 'The CAR root')
    const bytes = this.staging.block(cidToString(root))
    if (!bytes) refuse('The CAR does not hold its root block (the commit)')
    let commit: Record<string, unknown>
    try {
      commit = cborDecode(bytes) as Record<string, unknown>
    } catch {
      refuse('The commit block is not valid DAG-CBOR')
    }
    if (typeof commit !== 'object' || commit === null || Array.isArray(commit)) refuse('The commit block is not a commit')
    if (commit.version !== 3) refuse(`Unsupported repo version ${String(commit.version)}: only version 3 repos can be imported`)
    if (typeof commit.did !== 'string') refuse('The commit has no did')
    if (commit.did !== did) refuse(`The repo is of ${commit.did}, not of this account (${did})`)
    if (typeof commit.rev !== 'string' || !isValidTid(commit.rev)) refuse('The commit rev is not a valid TID')
    if (TID.fromStr(commit.rev).timestamp() / 1000 > Date.now() + MAX_REV_AHEAD_MS) refuse('The commit rev is in the future')
    assertCborLink(commit.data, 'The commit data')
    if (!('prev' in commit) || (commit.prev !== null && !isCidLink(commit.prev))) refuse('The commit prev must be present, null or a CID')
    if (!(commit.sig instanceof Uint8Array)) refuse('The commit has no signature')
    const unsigned = { did: commit.did, version: 3, data: commit.data, rev: commit.rev, prev: commit.prev }
    let valid = false
    try {
      valid = await verifySignature(signingKey, encodeDagCbor(unsigned as never), commit.sig)
    } catch {
      valid = false
    }
    if (!valid) refuse("The commit's signature does not verify with the signing key of the account's DID document")
    return { did, rev: commit.rev, data: commit.data }
  }

  /** One node and, in key order, everything under it. `layer` is undefined for the root. */
  private async walk(cid: Cid, layer: number | undefined): Promise<void> {
    const cidStr = cidToString(cid)
    const bytes = this.staging.block(cidStr)
    if (!bytes) refuse(`The CAR lacks the MST node ${cidStr}`)
    const { left, entries } = this.decodeNode(bytes, cidStr)
    const isRoot = layer === undefined
    if (isRoot) {
      if (entries.length === 0 && left) refuse(`The MST root ${cidStr} has no keys but a subtree: not a canonical tree`)
      layer = entries.length > 0 ? keyHeight(entries[0]!.key) : 0
    } else if (entries.length === 0 && !left) {
      refuse(`The MST node ${cidStr} is empty: not a canonical tree`)
    }
    for (const e of entries) {
      if (keyHeight(e.key) !== layer) refuse(`The MST key ${e.key} is at the wrong layer: not a canonical tree`)
    }
    if (layer === 0 && (left || entries.some((e) => e.right))) refuse(`The MST node ${cidStr} has a subtree below the lowest layer`)
    this.staging.addNode(cidStr)
    this.nodes++
    if (left) await this.walk(left, layer! - 1)
    for (const e of entries) {
      await this.leaf(e.key, e.value)
      if (e.right) await this.walk(e.right, layer! - 1)
    }
  }

  private decodeNode(bytes: Uint8Array, cidStr: string): { left: Cid | null; entries: MstLeaf[] } {
    let node: DecodedNode
    try {
      node = cborDecode(bytes) as unknown as DecodedNode
    } catch {
      refuse(`The MST node ${cidStr} is not valid DAG-CBOR`)
    }
    if (typeof node !== 'object' || node === null || !Array.isArray(node.e)) refuse(`The block ${cidStr} is not an MST node`)
    if (node.l !== null) assertCborLink(node.l, `The left link of MST node ${cidStr}`)
    const entries: MstLeaf[] = []
    let lastKey = ''
    for (const raw of node.e as DecodedEntry[]) {
      if (typeof raw !== 'object' || raw === null) refuse(`The MST node ${cidStr} has a malformed entry`)
      const { p, k, v, t } = raw
      if (
        typeof p !== 'number' ||
        !Number.isSafeInteger(p) ||
        p < 0 ||
        p > lastKey.length ||
        !(k instanceof Uint8Array) ||
        k.length > MAX_MST_KEY_LENGTH
      ) {
        refuse(`The MST node ${cidStr} has a malformed entry`)
      }
      assertCborLink(v, `A record link in MST node ${cidStr}`)
      if (t !== null) assertCborLink(t, `A subtree link in MST node ${cidStr}`)
      const key = lastKey.slice(0, p) + String.fromCharCode(...k)
      entries.push({ key, value: v, right: t as Cid | null })
      lastKey = key
    }
    // canonical encoding: field order, prefix compression, nothing extra (the CID check makes the bytes the node's)
    if (!Buffer.from(encodeMstNodeData(node.l as Cid | null, entries)).equals(bytes)) {
      refuse(`The MST node ${cidStr} is not canonically encoded`)
    }
    return { left: node.l as Cid | null, entries }
  }

  private async leaf(key: string, value: Cid): Promise<void> {
    if (key <= this.lastKey) refuse(`The MST keys are out of order at ${key}`)
    this.lastKey = key
    if (key.length > MAX_MST_KEY_LENGTH || !MST_KEY_CHARS.test(key)) refuse(`Invalid MST key: ${JSON.stringify(key)}`)
    const slash = key.indexOf('/')
    const collection = key.slice(0, slash)
    const rkey = key.slice(slash + 1)
    if (!isValidNsid(collection) || !isValidRecordKey(rkey)) refuse(`Invalid record path: ${key}`)
    const cidStr = cidToString(value)
    const bytes = this.staging.block(cidStr)
    if (!bytes) refuse(`The CAR lacks the record ${key} (${cidStr})`)
    const blobs = this.assertValidRecord(collection, rkey, cidStr, bytes)
    this.staging.addLeaf(collection, rkey, cidStr, blobs)
    if (++this.records % RECORDS_PER_TURN === 0) await nextTurn()
  }

  /** Returns how many blobs the record references. */
  private assertValidRecord(collection: string, rkey: string, cidStr: string, bytes: Uint8Array): number {
    const path = `${collection}/${rkey}`
    if (bytes.length > MAX_RECORD_BYTES) refuse(`Record ${path} is ${bytes.length} bytes; the limit is ${MAX_RECORD_BYTES}`)
    let record: unknown
    try {
      record = cborDecode(bytes)
    } catch {
      refuse(`Record ${path} is not valid DAG-CBOR`)
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record) || record instanceof Uint8Array) {
      refuse(`Record ${path} is not an object`)
    }
    try {
      assertLexData(record)
    } catch (err) {
      if (err instanceof DataModelError) refuse(`Invalid record ${path}: ${err.message}`)
      throw err
    }
    const $type = (record as { $type?: unknown }).$type
    if ($type !== collection) refuse(`Invalid record ${path}: $type must be ${collection}, got ${String($type)}`)
    let prepared
    try {
      // the data model, $type and size, as any write; not the lexicon: the reference validates nothing
      // on import, and real repos hold records written under older rules (legacy blob refs,
      // datetimes an earlier lexicon library let through) that would block the whole migration
      prepared = prepareRecordWrite(this.lexicons, { did: this.did, action: 'create', collection, rkey, record, validate: false })
    } catch (err) {
      if (err instanceof InvalidRequestError) refuse(`Invalid record ${path}: ${err.errorMessage ?? err.message}`)
      throw err
    }
    if (cidToString(prepared.cid) !== cidStr) refuse(`Record ${path} is not canonically encoded DAG-CBOR`)
    return prepared.blobs.length
  }
}
