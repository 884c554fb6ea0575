// Makes a delta patch (format.mjs) from two files on disk, a segment of the new file at a time.
import { open } from 'node:fs/promises'
import { promisify } from 'node:util'
import { constants as zlib, zstdCompress } from 'node:zlib'
import { anchorBits, AnchorScanner } from './anchors.mjs'
import { encodeHeader, encodeSegmentHeader, LIMITS, readFully, releaseZstdContexts } from './format.mjs'

const compress = promisify(zstdCompress)

/**
 * Chosen with `npm run bench -- updates` (DEVELOPERS.md, "App updates"): 1 MiB segments keep each
 * dictionary small (usually the segment's own stretch of the old file plus a little), so zstd's
 * tables can be small too (hashLog 20, chainLog 21); on a 50 MB artifact level 9 made patches
 * within 8 % of level 19's in a quarter of the time, with two thirds of the memory.
 */
export const DEFAULT_DELTA_OPTIONS = Object.freeze({
  segmentBytes: 1024 * 1024,
  dictionaryBytes: 4 * 1024 * 1024,
  level: 9,
  hashLog: 20,
  chainLog: 21,
})

/** Slack kept around each range of the old file, for content just beyond the anchors that found it. */
const SLACK = 4096
/** Anchors whose diagonals (old position - new position) differ by less than this belong to one piece. */
const SAME_DIAGONAL = 64 * 1024

/** Marks a key seen more than four times: boilerplate or padding, which says nothing of where content came from. */
const TOO_COMMON = Object.freeze([])

/** Where the anchors of the old file are, by key: the first place, and up to three more for content that repeats. */
async function indexOldFile(fh, size, bits) {
  const index = { first: new Map(), more: new Map() }
  const scanner = new AnchorScanner(bits)
  const buf = Buffer.allocUnsafe(1024 * 1024)
  for (let offset = 0; offset < size; ) {
    const n = await readFully(fh, buf, 0, Math.min(buf.length, size - offset), offset)
    if (n === 0) break
    scanner.scan(buf.subarray(0, n), offset, (position, key) => {
      if (!index.first.has(key)) return void index.first.set(key, position)
      const more = index.more.get(key)
      if (!more) index.more.set(key, [position])
      else if (more !== TOO_COMMON && more.length < 3) more.push(position)
      else index.more.set(key, TOO_COMMON)
    })
    offset += n
  }
  return index
}

/** Of the places an anchor's content has in the old file, the one nearest the diagonal followed so far. */
function nearest(index, key, at, diagonal) {
  const first = index.first.get(key)
  const more = index.more.get(key)
  if (first === undefined || more === TOO_COMMON) return undefined
  let best = first
  for (const p of more ?? []) if (Math.abs(p - at - diagonal) < Math.abs(best - at - diagonal)) best = p
  return best
}

/**
 * The ranges of the old file that the segment [start, end) of the new file is compressed against.
 * `matches` are its anchors found in the old file, in order. Consecutive ones at about the same
 * diagonal make a piece; each piece covers, in the old file, the stretch from the previous piece's
 * last anchor to the next piece's first one, mapped along its diagonal. Overlapping ranges are
 * merged; past the budget, those holding the fewest anchors are left out. With no anchor found,
 * the stretch where the content before it came from, continued (`diagonal`).
 */
function segmentRanges(matches, start, end, oldSize, budget, diagonal) {
  if (matches.length === 0) {
    const from = Math.min(Math.max(0, start + diagonal - SLACK), oldSize)
    const length = Math.min(oldSize - from, end - start + 2 * SLACK, budget)
    return length > 0 ? [{ offset: from, length }] : []
  }
  const pieces = []
  matches.forEach((m, i) => {
    const d = m.old - m.at
    const piece = pieces.at(-1)
    if (piece && Math.abs(d - piece.diagonal) <= SAME_DIAGONAL) {
      piece.last = i
      piece.count++
    } else pieces.push({ first: i, last: i, diagonal: d, count: 1 })
  })
  const ranges = pieces.map((p, k) => {
    const from = k === 0 ? start : matches[pieces[k - 1].last].at
    const to = k === pieces.length - 1 ? end : matches[pieces[k + 1].first].at
    const lo = Math.max(0, Math.min(from + p.diagonal, matches[p.first].old) - SLACK)
    const hi = Math.min(oldSize, Math.max(to + p.diagonal, matches[p.last].old) + SLACK)
    return { offset: lo, length: Math.max(0, hi - lo), count: p.count }
  })
  ranges.sort((a, b) => a.offset - b.offset)
  const merged = []
  for (const r of ranges) {
    const prev = merged.at(-1)
    if (prev && r.offset <= prev.offset + prev.length) {
      prev.length = Math.max(prev.length, r.offset + r.length - prev.offset)
      prev.count += r.count
    } else if (r.length > 0) merged.push({ ...r })
  }
  let total = merged.reduce((n, r) => n + r.length, 0)
  const kept = new Set(merged)
  for (const r of [...merged].sort((a, b) => a.count - b.count)) {
    if (total <= budget && kept.size <= LIMITS.ranges) break
    kept.delete(r)
    total -= r.length
  }
  return merged.filter((r) => kept.has(r)).map(({ offset, length }) => ({ offset, length }))
}

/**
 * Writes to `outPath` (a new file) a patch that turns the file at `oldPath` into the file at
 * `newPath`. Both are read from disk a segment at a time: memory holds a segment, its dictionary,
 * one zstd context and the old file's anchor index (~1 MB per 100 MB), whatever the files' sizes.
 * Returns the patch's size and its number of segments.
 */
export async function makeDelta(oldPath, newPath, outPath, options = {}) {
  const opts = { ...DEFAULT_DELTA_OPTIONS, ...options }
  if (opts.segmentBytes > LIMITS.segmentBytes || opts.dictionaryBytes > LIMITS.dictionaryBytes) throw new Error('delta options beyond the format limits')
  const oldFile = await open(oldPath, 'r')
  const newFile = await open(newPath, 'r')
  const out = await open(outPath, 'wx', 0o600)
  try {
    const oldSize = (await oldFile.stat()).size
    const newSize = (await newFile.stat()).size
    const bits = anchorBits(oldSize)
    const oldAnchors = await indexOldFile(oldFile, oldSize, bits)
    const scanner = new AnchorScanner(bits)
    const segment = Buffer.allocUnsafe(opts.segmentBytes)
    const dictionary = Buffer.allocUnsafe(opts.dictionaryBytes)
    let size = 0
    const write = async (bytes) => {
      await out.write(bytes)
      size += bytes.length
    }
    await write(encodeHeader(oldSize, newSize))
    let segments = 0
    let diagonal = 0
    for (let start = 0; start < newSize; ) {
      const length = await readFully(newFile, segment, 0, Math.min(opts.segmentBytes, newSize - start), start)
      if (length === 0) throw new Error('the new file ended early')
      const bytes = segment.subarray(0, length)
      const matches = []
      const before = diagonal
      scanner.scan(bytes, start, (position, key) => {
        const old = nearest(oldAnchors, key, position, diagonal)
        if (old === undefined) return
        matches.push({ at: position, old })
        diagonal = old - position
      })
      const ranges = segmentRanges(matches, start, start + length, oldSize, opts.dictionaryBytes, before)
      let dictLength = 0
      for (const r of ranges) dictLength += await readFully(oldFile, dictionary, dictLength, r.length, r.offset)
      const frame = await compress(bytes, {
        pledgedSrcSize: length,
        ...(dictLength > 0 ? { dictionary: dictionary.subarray(0, dictLength) } : {}),
        params: {
          [zlib.ZSTD_c_compressionLevel]: opts.level,
          // every byte of the dictionary and of the segment within reach
          [zlib.ZSTD_c_windowLog]: Math.min(LIMITS.windowLog, Math.max(20, Math.ceil(Math.log2(dictLength + length)))),
          [zlib.ZSTD_c_hashLog]: opts.hashLog,
          [zlib.ZSTD_c_chainLog]: opts.chainLog,
          [zlib.ZSTD_c_checksumFlag]: 1,
        },
      })
      await write(encodeSegmentHeader(length, frame.length, ranges))
      await write(frame)
      await releaseZstdContexts()
      start += length
      segments++
    }
    await out.sync()
    return { size, segments, oldSize, newSize }
  } finally {
    await Promise.all([oldFile.close(), newFile.close(), out.close()])
  }
}
