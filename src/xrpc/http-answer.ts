import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../logger.js'

/** The DID of each request's authenticated caller, for its log line. */
const callers = new WeakMap<ServerResponse, string>()

/** Notes who the request's credentials proved the caller to be (after auth succeeded). */
export function noteCaller(res: ServerResponse, did: string): void {
  callers.set(res, did)
}

/** An XRPC error body `{error, message}` as JSON; a response already under way is cut instead. */
export function sendXrpcError(res: ServerResponse, status: number, payload: { error?: string; message?: string }): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify(payload)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
}

/**
 * Logs one line per request once it is answered: a request id (also sent as `X-Request-Id`, so a
 * user's report can be matched to the line), method, path (never the query), status, time in ms,
 * the authenticated caller's DID when there is one, and `aborted` when the connection closed
 * before the answer ended. Headers, bodies and the query string are
 * never logged: they carry passwords and tokens.
 */
export function logRequestOnFinish(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const start = process.hrtime.bigint()
  const reqId = randomUUID()
  res.setHeader('X-Request-Id', reqId)
  res.on('close', () => {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const did = callers.get(res)
    const line: Record<string, unknown> = {
      reqId,
      method: req.method,
      path: q === -1 ? url : url.slice(0, q),
      status: res.statusCode,
      ms: Number(process.hrtime.bigint() - start) / 1e6,
    }
    if (did !== undefined) line.did = did
    // the connection closed before the answer ended (the client left, or a cut export)
    if (!res.writableFinished) line.aborted = true
    logger.info(line, 'request')
  })
}
