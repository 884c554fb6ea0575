import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
const MAX_JSON_DEPTH = 64

/** A request body that cannot be taken: status and XRPC error name for the answer. */
export class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
  ) {
    super(message)
  }
}

/** Whether the request declares a body: as xrpc-server tells (framing headers, not bytes). */
export function bodyPresence(req: IncomingMessage): 'present' | 'empty' | 'missing' {
  const h = req.headers
  if (h['transfer-encoding'] !== undefined) return 'present'
  if (h['content-length'] === '0') return 'empty'
  if (h['content-length'] !== undefined) return 'present'
  return 'missing'
}

/** The declared Content-Length is already over `limit`: refuse before reading any of it. */
export function declaredLengthOver(req: IncomingMessage, limit: number): boolean {
  return Number(req.headers['content-length'] ?? 0) > limit
}

/** The body as sent, decompressed by its Content-Encoding (gzip, deflate, br). */
export function decodedBody(req: IncomingMessage): Readable {
  const encodings = (req.headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '' && e !== 'identity')
  let stream: Readable = req
  // applied in the reverse order of their listing (RFC 9110 §8.4)
  for (const encoding of encodings.reverse()) {
    const decoder =
      encoding === 'gzip' || encoding === 'x-gzip'
        ? createGunzip()
        : encoding === 'deflate'
          ? createInflate()
          : encoding === 'br'
            ? createBrotliDecompress()
            : undefined
    if (!decoder) throw new BodyError(415, 'InvalidRequest', `unsupported Content-Encoding: ${encoding}`)
    const source = stream
    source.on('error', (err) => decoder.destroy(err))
    stream = source.pipe(decoder)
  }
  return stream
}

/**
 * Reads `body` (the request, or a decoder fed by it) to its end, refusing (413) more than
 * `limit` bytes. Past the limit the rest of the request is read and dropped rather than the
 * socket destroyed, so the 413 can still be answered.
 */
export function readAll(req: IncomingMessage, body: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        body.off('data', onData)
        if (body !== req) body.destroy()
        req.resume()
        reject(new BodyError(413, 'PayloadTooLarge', `request body is larger than ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    }
    body.on('data', onData)
    body.on('end', () => resolve(Buffer.concat(chunks)))
    // a client that goes away mid-body, or a corrupt compressed body: nothing to log
    body.on('error', () => reject(new BodyError(400, 'InvalidRequest', 'the request body was cut off or could not be decoded')))
  })
}

function assertWellFormed(value: unknown, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw new BodyError(400, 'InvalidRequest', 'JSON body is nested too deeply')
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw new BodyError(400, 'InvalidRequest', 'JSON body contains a lone surrogate')
  } else if (Array.isArray(value)) {
    for (const v of value) assertWellFormed(v, depth + 1)
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!k.isWellFormed()) throw new BodyError(400, 'InvalidRequest', 'JSON body contains a lone surrogate')
      assertWellFormed(v, depth + 1)
    }
  }
}

/**
 * A JSON request body, read strictly: invalid UTF-8, malformed JSON and lone surrogates are 400
 * (body-parser would decode invalid UTF-8 to U+FFFD and store it), more than `limit` decoded
 * bytes is 413. An empty body is `undefined`.
 */
export async function readStrictJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const buf = await readAll(req, decodedBody(req), limit)
  if (buf.length === 0) return undefined
  let text: string
  try {
    text = utf8.decode(buf)
  } catch {
    throw new BodyError(400, 'InvalidRequest', 'request body is not valid UTF-8')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new BodyError(400, 'InvalidRequest', 'request body is not valid JSON')
  }
  assertWellFormed(parsed)
  return parsed
}

/** A method without input may still be sent an empty chunked body; anything else is refused. */
export async function assertNoBody(req: IncomingMessage): Promise<void> {
  const presence = bodyPresence(req)
  if (presence !== 'present') return
  if (req.headers['transfer-encoding'] === undefined) {
    throw new BodyError(400, 'InvalidRequest', 'A request body was provided when none was expected')
  }
  const buf = await readAll(req, req, 0).catch((err: unknown) => {
    if (err instanceof BodyError && err.status === 413) {
      throw new BodyError(400, 'InvalidRequest', 'A request body was provided when none was expected')
    }
    throw err
  })
  if (buf.length > 0) throw new BodyError(400, 'InvalidRequest', 'A request body was provided when none was expected')
}
