import { createWriteStream, renameSync, rmSync, statSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * Writes a stream to `file` through `<file>.partial`, renamed into place once complete: an
 * interrupted export never leaves a truncated file under the name asked for. Returns its size.
 */
export async function writeStreamToFile(stream: Readable, file: string): Promise<number> {
  const partial = `${file}.partial`
  try {
    await pipeline(stream, createWriteStream(partial, { mode: 0o600 }))
    renameSync(partial, file)
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  }
  return statSync(file).size
}
