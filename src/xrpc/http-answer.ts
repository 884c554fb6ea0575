import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../logger.js'

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

/** Logs one line per request once it is answered: method, path (never the query), status, time. */
export function logRequestOnFinish(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const start = process.hrtime.bigint()
  res.on('finish', () => {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    logger.info(
      { method: req.method, path: q === -1 ? url : url.slice(0, q), status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6 },
      'request',
    )
  })
}
