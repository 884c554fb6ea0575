import { hash } from 'node:crypto'
import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { CID } from 'multiformats/cid'
import { cidToString } from './cid.js'

/** A CAR that cannot be read: malformed, truncated, or a block whose bytes are not its CID's. */
export class CarFormatError extends Error {}

/** More bytes than the reader was allowed to take. */
export class CarTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`CAR is larger than ${limit} bytes`)
  }
}

export type CarBlock = { cid: Cid; cidStr: string; bytes: Uint8Array }

const SHA2_256 = 0x12
const MAX_HEADER_BYTES = 64 * 1024
/**
 * Largest block section (CID + bytes) accepted. A repo's biggest blocks are records, at most
 * 1,000,000 bytes; a declared length above this is refused before any of it is read, so one
 * block can never make the reader hold the rest of the CAR.
 */
const MAX_CAR_BLOCK_BYTES = 2 * 1024 * 1024

/**
 * Reads a CARv1 from a stream of chunks as it arrives: the header's roots first, then one block
 * at a time, each checked against its CID (sha2-256 only) before it is yielded. Memory holds the
 * current chunk and at most one block: every block is copied out of the chunks it came in, so a
 * caller keeping a block does not keep the chunks alive. Throws CarFormatError for anything
 * malformed or truncated, CarTooLargeError past `maxBytes` (counting the bytes as they come).
 *
 * @atproto/repo's readCarStream streams too, but reads a block of whatever length it declares
 * (up to the whole body) and assumes 36-byte CIDs, hence this reader.
 */
export async function readCarStream(
  source: AsyncIterable<Uint8Array>,
  opts: { maxBytes: number },
): Promise<{ roots: Cid[]; blocks: AsyncGenerator<CarBlock> }> {
  const input = new ChunkReader(source, opts.maxBytes)
  const headerLength = await input.varint()
  if (headerLength === null) throw new CarFormatError('CAR is empty')
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw new CarFormatError(`CAR header length ${headerLength} is not acceptable`)
  const header = decodeHeader(await input.take(headerLength))
  return { roots: header.roots, blocks: readBlocks(input) }
}

function decodeHeader(bytes: Uint8Array): { roots: Cid[] } {
  let header: unknown
  try {
    header = cborDecode(bytes)
  } catch {
    throw new CarFormatError('CAR header is not valid DAG-CBOR')
  }
  const h = header as { version?: unknown; roots?: unknown }
  if (!h || typeof h !== 'object' || h.version !== 1) throw new CarFormatError('not a CARv1 file (header version must be 1)')
  if (!Array.isArray(h.roots) || !h.roots.every((r) => CID.asCID(r) !== null)) throw new CarFormatError('CAR header roots must be CIDs')
  return { roots: h.roots as Cid[] }
}

async function* readBlocks(input: ChunkReader): AsyncGenerator<CarBlock> {
  for (;;) {
    const length = await input.varint()
    if (length === null) return
    if (length === 0) throw new CarFormatError('CAR block of length 0')
    if (length > MAX_CAR_BLOCK_BYTES) throw new CarFormatError(`CAR block of ${length} bytes; the limit is ${MAX_CAR_BLOCK_BYTES}`)
    const section = await input.take(length)
    let cid: CID
    let bytes: Uint8Array
    try {
      ;[cid, bytes] = CID.decodeFirst(section)
    } catch {
      throw new CarFormatError('CAR block does not start with a valid CID')
    }
    if (cid.version !== 1) throw new CarFormatError(`CAR block ${cid.toString()} has a CIDv0; atproto uses CIDv1`)
    if (cid.multihash.code !== SHA2_256 || cid.multihash.size !== 32) {
      throw new CarFormatError(`CAR block ${cid.toString()} is not hashed with sha2-256`)
    }
    const digest = hash('sha256', bytes, 'buffer')
    if (!digest.equals(cid.multihash.digest)) {
      throw new CarFormatError(`CAR block ${cid.toString()}: its bytes do not match its CID`)
    }
    const c = cid as unknown as Cid
    yield { cid: c, cidStr: cidToString(c), bytes }
  }
}

/** Bytes from a stream of chunks, taken in pieces of any size, counted against a limit. */
class ChunkReader {
  private iterator: AsyncIterator<Uint8Array>
  private chunk: Uint8Array = new Uint8Array(0)
  private offset = 0
  private total = 0
  private done = false

  constructor(
    source: AsyncIterable<Uint8Array>,
    private maxBytes: number,
  ) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  /** The next chunk, or false at the end of the stream. */
  private async pull(): Promise<boolean> {
    if (this.done) return false
    let next: IteratorResult<Uint8Array>
    try {
      next = await this.iterator.next()
    } catch {
      // the client went away, or a compressed body did not decode
      throw new CarFormatError('The CAR was cut off or could not be decoded')
    }
    if (next.done) {
      this.done = true
      return false
    }
    this.total += next.value.length
    if (this.total > this.maxBytes) {
      await this.iterator.return?.()
      throw new CarTooLargeError(this.maxBytes)
    }
    this.chunk = next.value
    this.offset = 0
    return true
  }

  /** An unsigned LEB128 varint (at most 7 bytes: < 2^49), or null at a clean end of the stream. */
  async varint(): Promise<number | null> {
    let value = 0
    for (let i = 0; i < 7; i++) {
      while (this.offset >= this.chunk.length) {
        if (!(await this.pull())) {
          if (i === 0) return null
          throw new CarFormatError('CAR ends inside a length')
        }
      }
      const byte = this.chunk[this.offset++]!
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (byte < 0x80) return value
    }
    throw new CarFormatError('CAR length is too long')
  }

  /** Exactly `n` bytes, copied into a buffer of their own. */
  async take(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      if (this.offset >= this.chunk.length && !(await this.pull())) throw new CarFormatError('CAR is truncated')
      const piece = Math.min(n - filled, this.chunk.length - this.offset)
      out.set(this.chunk.subarray(this.offset, this.offset + piece), filled)
      this.offset += piece
      filled += piece
    }
    return out
  }
}
