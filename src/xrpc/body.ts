import type { Request, RequestHandler } from 'express'

const RAW_JSON = Symbol('carrel.rawJson')
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

class BodyError extends Error {
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

function readBody(req: Request, limit: number): Promise<Buffer> {
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
    req.on('error', reject)
  })
}

/**
 * Parses JSON request bodies strictly before xrpc-server sees them: invalid UTF-8, malformed
 * JSON and lone surrogates are 400, a body over the limit is 413 (body-parser would decode
 * invalid UTF-8 to U+FFFD and store it). Keeps the raw JSON for handlers that must inspect
 * records exactly as sent (xrpc-server converts $link/$bytes/blob objects on its way).
 */
export function strictJsonBody(limit: number): RequestHandler {
  return (req, res, next) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (req.method !== 'POST' || type !== 'application/json' || !req.path.startsWith('/xrpc/')) return next()
    readBody(req, limit)
      .then((buf) => {
        if (buf.length === 0) return next()
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
        const r = req as Request & { _body?: boolean; [RAW_JSON]?: unknown }
        r.body = parsed
        r[RAW_JSON] = parsed
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
export function rawJsonBody(req: Request): Record<string, unknown> {
  const raw = (req as Request & { [RAW_JSON]?: unknown })[RAW_JSON]
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>
  return (req.body ?? {}) as Record<string, unknown>
}
