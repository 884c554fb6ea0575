// Repositories built and signed by the test (with @atproto/repo, the reference's repo library), as
// CAR files for importRepo, and the pieces to tamper with one: blocks, commits, MST nodes, CBOR.
import type { Keypair } from '@atproto/crypto'
import { decode as cborDecode, encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import { BlockMap, blocksToCarFile, MemoryBlockstore, Repo, signCommit, WriteOpAction } from '@atproto/repo'
import { TID } from '@atproto/common'

export type RecordSpec = { collection: string; rkey: string; record: Record<string, unknown> }

export type BuiltRepo = { car: Uint8Array; root: Cid; blocks: BlockMap; rev: string; data: Cid }

/** A whole repo of `records`, its commit signed with `key` as `did`. */
export async function buildRepo(did: string, key: Keypair, records: RecordSpec[], rev?: string): Promise<BuiltRepo> {
  const writes = records.map((r) => ({ action: WriteOpAction.Create as const, collection: r.collection, rkey: r.rkey, record: r.record })) as never
  const commit = await Repo.formatInitCommit(new MemoryBlockstore(), did, key, writes, rev)
  const data = (cborDecode(commit.newBlocks.get(commit.cid)!) as unknown as { data: Cid }).data
  return { car: await blocksToCarFile(commit.cid, commit.newBlocks), root: commit.cid, blocks: commit.newBlocks, rev: commit.rev, data }
}

/** A CAR of the given blocks under `roots` (any number), written as any CAR writer would. */
export async function carOf(roots: Cid[], blocks: Iterable<[Cid, Uint8Array]>): Promise<Uint8Array> {
  const map = new BlockMap()
  for (const [cid, bytes] of blocks) map.set(cid, bytes)
  if (roots.length === 1) return blocksToCarFile(roots[0]!, map)
  const header = cborEncode({ version: 1, roots })
  const parts: Uint8Array[] = [varint(header.length), header]
  for (const [cid, bytes] of map) parts.push(varint(cid.bytes.length + bytes.length), cid.bytes, bytes)
  return Buffer.concat(parts)
}

export function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return new Uint8Array(out)
}

/** A block of any DAG-CBOR value: its CID and bytes. */
export async function cborBlock(value: unknown): Promise<[Cid, Uint8Array]> {
  const bytes = cborEncode(value as never)
  return [await cidForCbor(bytes), bytes]
}

/** A block of raw bytes claimed to be DAG-CBOR (hand-written CBOR): CID computed over them. */
export async function rawCborBlock(bytes: Uint8Array): Promise<[Cid, Uint8Array]> {
  return [await cidForCbor(bytes), bytes]
}

/** A signed v3 commit over `data`. */
export async function commitBlock(key: Keypair, fields: { did: string; data: Cid; rev?: string }): Promise<[Cid, Uint8Array]> {
  const commit = await signCommit({ did: fields.did, version: 3, rev: fields.rev ?? TID.nextStr(), prev: null, data: fields.data }, key)
  return cborBlock(commit)
}

/** A repo with `blocks` (MST nodes and records, hand-made) under a commit over `data`. */
export async function handmadeRepo(key: Keypair, did: string, data: Cid, blocks: [Cid, Uint8Array][], rev?: string): Promise<Uint8Array> {
  const commit = await commitBlock(key, { did, data, rev })
  return carOf([commit[0]], [commit, ...blocks])
}

/** CBOR text string head + bytes (for hand-written, possibly non-canonical CBOR). */
export function cborText(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8')
  if (b.length < 24) return Buffer.concat([Buffer.from([0x60 + b.length]), b])
  return Buffer.concat([Buffer.from([0x78, b.length]), b])
}
