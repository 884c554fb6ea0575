// Applies a delta patch (format.mjs) to the old file on disk, a segment at a time: what a device
// does with a patch it downloaded, and what the server does to prove a patch before storing it.
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { promisify } from 'node:util'
import { constants as zlib, zstdDecompress } from 'node:zlib'
import {
  decodeHeader,
  DeltaFormatError,
  frameBound,
  HEADER_BYTES,
  LIMITS,
  RANGE_BYTES,
  readFully,
  releaseZstdContexts,
  SEGMENT_HEADER_BYTES,
} from './format.mjs'

const decompress = promisify(zstdDecompress)

async function readExactly(fh, length, position) {
  const buf = Buffer.allocUnsafe(length)
  if ((await readFully(fh, buf, 0, length, position)) < length) throw new DeltaFormatError('the patch ends early')
  return buf
}

/**
 * Applies the patch at `patchPath` to the file at `oldPath`, handing the new file's bytes to
 * `write` in order, a segment at a time. Refuses (DeltaFormatError) a patch that is damaged, made
 * for an old file of another size, or asks for more memory than the format allows; zstd's
 * checksum in every frame catches a patch applied to other bytes of the same size.
 */
export async function applyDelta(oldPath, patchPath, write) {
  const oldFile = await open(oldPath, 'r')
  const patch = await open(patchPath, 'r')
  try {
    const patchSize = (await patch.stat()).size
    const oldSize = (await oldFile.stat()).size
    const header = decodeHeader(await readExactly(patch, HEADER_BYTES, 0))
    if (header.oldSize !== oldSize) throw new DeltaFormatError(`the patch is for an old file of ${header.oldSize} bytes, not ${oldSize}`)
    let position = HEADER_BYTES
    let produced = 0
    while (produced < header.newSize) {
      const h = await readExactly(patch, SEGMENT_HEADER_BYTES, position)
      const newLength = h.readUInt32LE(0)
      const frameLength = h.readUInt32LE(4)
      const rangeCount = h.readUInt16LE(8)
      if (newLength === 0 || newLength > LIMITS.segmentBytes || produced + newLength > header.newSize) throw new DeltaFormatError('bad segment length')
      if (frameLength > frameBound(newLength) || rangeCount > LIMITS.ranges) throw new DeltaFormatError('bad segment header')
      const rangeBytes = await readExactly(patch, rangeCount * RANGE_BYTES, position + SEGMENT_HEADER_BYTES)
      const ranges = []
      let dictLength = 0
      for (let i = 0; i < rangeCount; i++) {
        const offset = rangeBytes.readUIntLE(i * RANGE_BYTES, 6)
        const length = rangeBytes.readUInt32LE(i * RANGE_BYTES + 6)
        if (offset + length > oldSize) throw new DeltaFormatError('a range lies outside the old file')
        dictLength += length
        ranges.push({ offset, length })
      }
      if (dictLength > LIMITS.dictionaryBytes) throw new DeltaFormatError('a segment asks for too large a dictionary')
      const dictionary = Buffer.allocUnsafe(dictLength)
      let at = 0
      for (const r of ranges) {
        dictionary.set(await readExactly(oldFile, r.length, r.offset), at)
        at += r.length
      }
      position += SEGMENT_HEADER_BYTES + rangeBytes.length
      if (position + frameLength > patchSize) throw new DeltaFormatError('the patch ends early')
      const frame = await readExactly(patch, frameLength, position)
      position += frameLength
      let bytes
      try {
        bytes = await decompress(frame, {
          ...(dictLength > 0 ? { dictionary } : {}),
          maxOutputLength: newLength,
          params: { [zlib.ZSTD_d_windowLogMax]: LIMITS.windowLog },
        })
      } catch (err) {
        throw new DeltaFormatError(`a segment does not decompress: ${err.message}`)
      }
      if (bytes.length !== newLength) throw new DeltaFormatError('a segment decompressed to the wrong length')
      await releaseZstdContexts()
      await write(bytes)
      produced += newLength
    }
    if (position !== patchSize) throw new DeltaFormatError('the patch has bytes after its last segment')
    return { size: produced }
  } finally {
    await Promise.all([oldFile.close(), patch.close()])
  }
}

/** Applies a patch and hashes the result without storing it: the new file's size and SHA-256 (hex). */
export async function hashPatched(oldPath, patchPath) {
  const hash = createHash('sha256')
  const { size } = await applyDelta(oldPath, patchPath, (chunk) => {
    hash.update(chunk)
  })
  return { size, sha256: hash.digest('hex') }
}
