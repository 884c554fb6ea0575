import type { IncomingMessage } from 'node:http'
import type { Request, RequestHandler } from 'express'

const RAW_JSON = Symbol('carrel.rawJson')
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly errorName: string,
    message: string,
  ) {
    super(message)
  }
}

function assertWellFormed(value: unknown, depth = 0): void {
  if (depth > 64) throw new BodyError(400, 'InvalidRequest', 'JSON body is nested too deeply')
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

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new BodyError(413, 'PayloadTooLarge', `request body is larger than ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    // a client that goes away mid-body: nothing to log, nobody to answer
    req.on('error', () => reject(new BodyError(400, 'InvalidRequest', 'the request body was cut off')))
  })
}

/**
 * Reads a JSON request body strictly: invalid UTF-8, malformed JSON and lone surrogates are
 * 400, a body over the limit is 413 (body-parser would decode invalid UTF-8 to U+FFFD and
 * store it). An empty body is `undefined`.
 */
export async function readStrictJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  // refused at once when the declared length is already too large, before any of it is read
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    throw new BodyError(413, 'PayloadTooLarge', `request body is larger than ${limit} bytes`)
  }
  const buf = await readBody(req, limit)
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

/** Keeps the JSON body exactly as the client sent it, for {@link rawJsonBody}. */
export function keepRawJsonBody(req: IncomingMessage, parsed: unknown): void {
  ;(req as IncomingMessage & { [RAW_JSON]?: unknown })[RAW_JSON] = parsed
}

/**
 * The express middleware form of {@link readStrictJsonBody}, run before xrpc-server sees the
 * request. Keeps the raw JSON for handlers that must inspect records exactly as sent
 * (xrpc-server converts $link/$bytes/blob objects on its way).
 */
export function strictJsonBody(limit: number): RequestHandler {
  return (req, res, next) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (req.method !== 'POST' || type !== 'application/json' || !req.path.startsWith('/xrpc/')) return next()
    readStrictJsonBody(req, limit)
      .then((parsed) => {
        if (parsed === undefined) return next()
        const r = req as Request & { _body?: boolean }
        r.body = parsed
        keepRawJsonBody(req, parsed)
        r._body = true // body-parser (inside xrpc-server) skips requests already parsed
        next()
      })
      .catch((err: unknown) => {
        if (err instanceof BodyError) {
          if (err.status === 413) res.setHeader('Connection', 'close')
          res.status(err.status).json({ error: err.errorName, message: err.message })
          return
        }
        next(err)
      })
  }
}

/** The request's JSON body exactly as the client sent it (before lexicon conversion). */
export function rawJsonBody(req: IncomingMessage): Record<string, unknown> {
  const raw = (req as IncomingMessage & { [RAW_JSON]?: unknown })[RAW_JSON]
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>
  return ((req as IncomingMessage & { body?: unknown }).body ?? {}) as Record<string, unknown>
}
