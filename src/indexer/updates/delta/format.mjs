// The delta patch format, version 1: a header, then the new file in segments, each a standard
// zstd frame compressed against a dictionary made of ranges of the old file (the idea of zstd's
// "patch from" mode, a segment at a time, so that neither side ever holds a whole artifact in
// memory).
//
//   header   "CRLDELTA" | version u8 (1) | 3 zero bytes | old size u48 LE | new size u48 LE
//   segment  new length u32 LE | frame length u32 LE | range count u16 LE
//            | range count × (old offset u48 LE, length u32 LE) | zstd frame
//
// A segment's dictionary is its ranges of the old file, concatenated in the order listed; its
// frame decompresses, with that dictionary as raw content, to the segment's bytes. Segments follow
// one another until the new size is reached. Any zstd library that takes a raw-content dictionary
// (ZSTD_decompress_usingDict, Node's zlib `dictionary` option) can apply a patch.

const MAGIC = Buffer.from('CRLDELTA', 'latin1')
const FORMAT_VERSION = 1
export const HEADER_BYTES = 24
export const SEGMENT_HEADER_BYTES = 10
export const RANGE_BYTES = 10

/** What an applier accepts, so that a damaged or hostile patch cannot make it allocate without bound. */
export const LIMITS = Object.freeze({
  segmentBytes: 16 * 1024 * 1024,
  dictionaryBytes: 64 * 1024 * 1024,
  ranges: 1024,
  /** zstd's window (2^27, also the zstd CLI's default limit when decompressing) */
  windowLog: 27,
})

/** The largest a zstd frame of `n` bytes of content can be (ZSTD_compressBound), plus the checksum. */
export function frameBound(n) {
  return n + (n >>> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0) + 64
}

export function encodeHeader(oldSize, newSize) {
  const h = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(h, 0)
  h.writeUInt8(FORMAT_VERSION, 8)
  h.writeUIntLE(oldSize, 12, 6)
  h.writeUIntLE(newSize, 18, 6)
  return h
}

/** A patch that is damaged, of another format, or made for another old file. */
export class DeltaFormatError extends Error {}

/** Reads up to `length` bytes at `position` into `target` at `at`, fewer only at the end of the file; returns how many. */
export async function readFully(fh, target, at, length, position) {
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(target, at + done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

export function decodeHeader(h) {
  if (h.length < HEADER_BYTES || !h.subarray(0, 8).equals(MAGIC)) throw new DeltaFormatError('not a Carrel delta patch')
  if (h.readUInt8(8) !== FORMAT_VERSION) throw new DeltaFormatError(`unsupported delta format version ${h.readUInt8(8)}`)
  return { oldSize: h.readUIntLE(12, 6), newSize: h.readUIntLE(18, 6) }
}

export function encodeSegmentHeader(newLength, frameLength, ranges) {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES + ranges.length * RANGE_BYTES)
  h.writeUInt32LE(newLength, 0)
  h.writeUInt32LE(frameLength, 4)
  h.writeUInt16LE(ranges.length, 8)
  ranges.forEach((r, i) => {
    h.writeUIntLE(r.offset, SEGMENT_HEADER_BYTES + i * RANGE_BYTES, 6)
    h.writeUInt32LE(r.length, SEGMENT_HEADER_BYTES + i * RANGE_BYTES + 6)
  })
  return h
}

/**
 * Node's zstd contexts (and the dictionary copies they hold, tens of MB at high levels) are freed
 * only when the garbage collector finalizes their handles, and V8 does not count that memory:
 * without a collection between segments a 50 MB patch grew the process by 2.7 GB. The delta worker
 * runs with --expose-gc and collects after each segment; elsewhere this does nothing.
 */
export async function releaseZstdContexts() {
  if (typeof globalThis.gc !== 'function') return
  globalThis.gc()
  // the handles' finalizers run after the collection, from the event loop
  await new Promise((resolve) => setImmediate(resolve))
}
