import { createServer as createHttpServer, type RequestListener, type Server as HttpServer, STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import cors from 'cors'
import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import { XRPCError } from '@atproto/xrpc-server'
import type { AppContext } from './context.js'
import { registerMethods } from './xrpc/index.js'
import { registerWellKnown } from './well-known.js'
import { strictJsonBody } from './xrpc/body.js'
import { XrpcDispatch, XrpcServer } from './xrpc/dispatch.js'
import { TRUSTED_PROXIES } from './xrpc/client-ip.js'
import { logRequestOnFinish, sendXrpcError } from './xrpc/http-answer.js'
import { SUBSCRIBE_REPOS_PATH, subscribeReposHttpFallback } from './firehose/subscribe-repos.js'

const UPLOAD_BLOB_PATH = '/xrpc/com.atproto.repo.uploadBlob'

/** Refuse a body whose declared length is already over the limit, before reading any of it. */
function declaredLengthLimit(ctx: AppContext): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.headers['content-length'] ?? 0)
    const limit = req.path === UPLOAD_BLOB_PATH ? ctx.cfg.blobUploadLimit : ctx.cfg.jsonBodyLimit
    if (declared > limit) {
      res.setHeader('Connection', 'close')
      const name = req.path === UPLOAD_BLOB_PATH ? 'BlobTooLarge' : 'PayloadTooLarge'
      return sendXrpcError(res, 413, { error: name, message: `request body is larger than ${limit} bytes` })
    }
    next()
  }
}

function requestLog(ctx: AppContext): RequestHandler {
  return (req, res, next) => {
    if (ctx.logger.isLevelEnabled('info')) logRequestOnFinish(ctx.logger, req, res)
    next()
  }
}

function errorHandler(ctx: AppContext): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (err instanceof XRPCError) {
      return sendXrpcError(res, err.statusCode, { error: err.payload.error ?? 'InternalServerError', message: err.payload.message ?? '' })
    }
    const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 500
    if (status === 413) return sendXrpcError(res, 413, { error: 'PayloadTooLarge', message: 'request body is too large' })
    if (status >= 400 && status < 500) {
      return sendXrpcError(res, status, { error: 'InvalidRequest', message: err?.expose ? String(err.message) : STATUS_CODES[status] ?? 'Bad Request' })
    }
    ctx.logger.error({ err: { name: err?.name, message: err?.message, stack: err?.stack } }, 'unhandled error')
    return sendXrpcError(res, 500, { error: 'InternalServerError', message: 'Internal Server Error' })
  }
}

/**
 * xrpc-server's error answer, with our logging: unexpected failures are logged with their
 * stack, the client gets only the XRPC error.
 */
function xrpcErrorParser(ctx: AppContext) {
  return (err: unknown): XRPCError => {
    const xrpcErr = XRPCError.fromError(err)
    if (xrpcErr.statusCode >= 500 && !(err instanceof XRPCError)) {
      const e = err as Error
      ctx.logger.error({ err: { name: e?.name, message: e?.message, stack: e?.stack } }, 'handler failed')
    }
    return xrpcErr
  }
}

/** The HTTP request listener: XRPC method calls through {@link XrpcDispatch}, the rest through express. */
export function createApp(ctx: AppContext): RequestListener {
  const app = express()
  app.disable('x-powered-by')
  // XRPC responses are not revalidated by clients: hashing every body for an ETag is wasted work
  app.set('etag', false)
  // X-Forwarded-For is believed only from a proxy on this host or a private network
  app.set('trust proxy', TRUSTED_PROXIES)
  app.use(requestLog(ctx))
  app.use(cors({ maxAge: 86400 }))
  app.use(declaredLengthLimit(ctx))
  app.use(strictJsonBody(ctx.cfg.jsonBodyLimit))
  app.get('/xrpc/_health', (_req, res) => {
    res.json({ version: ctx.cfg.version })
  })
  app.get('/', (_req, res) => {
    res.type('text/plain').send('This is an AT Protocol Personal Data Server (Carrel).\n')
  })
  registerWellKnown(app, ctx)
  // WebSocket upgrades of this path are taken by the firehose (src/firehose); plain requests land here
  app.all(SUBSCRIBE_REPOS_PATH, subscribeReposHttpFallback)

  const errorParser = xrpcErrorParser(ctx)
  const xrpc = new XrpcServer(ctx.lexiconDocs, {
    // outputs are built by our handlers, not passed through; clients (and our tests, through
    // @atproto/api) validate them. Validating every response again cost ~10% of a read.
    validateResponse: false,
    payload: {
      jsonLimit: ctx.cfg.jsonBodyLimit,
      blobLimit: ctx.cfg.blobUploadLimit,
      textLimit: 100 * 1024,
    },
    errorParser,
  })
  // the settings that matter for responses are those of the app that owns the route
  xrpc.router.disable('x-powered-by')
  xrpc.router.set('etag', false)
  xrpc.router.set('trust proxy', TRUSTED_PROXIES)
  registerMethods(xrpc, ctx)
  app.use(xrpc.router)
  app.use(errorHandler(ctx))
  const dispatch = new XrpcDispatch(xrpc, app, { jsonLimit: ctx.cfg.jsonBodyLimit, logger: ctx.logger, errorParser })
  return dispatch.listener
}

/** A bare Node error page would break XRPC clients: answer protocol-level failures in JSON. */
function answerClientError(err: NodeJS.ErrnoException & { code?: string }, socket: Socket) {
  if (!socket.writable || (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.destroy()
    return
  }
  let status = 400
  let error = 'InvalidRequest'
  let message = 'malformed HTTP request'
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431
    message = 'request URL or headers are too large'
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    status = 408
    error = 'RequestTimeout'
    message = 'request took too long to arrive'
  } else if (err.code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  const body = JSON.stringify({ error, message })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

export type RunningServer = {
  http: HttpServer
  port: number
  url: string
  close(): Promise<void>
}

export async function startHttpServer(ctx: AppContext, listener: RequestListener, port: number): Promise<RunningServer> {
  const timeout = ctx.cfg.requestTimeoutMs
  const http = createHttpServer(
    {
      maxHeaderSize: 16 * 1024,
      requestTimeout: timeout,
      headersTimeout: Math.min(timeout, 10_000),
      connectionsCheckingInterval: Math.max(250, Math.min(timeout / 4, 5_000)),
    },
    listener,
  )
  http.keepAliveTimeout = 65_000
  http.on('clientError', answerClientError)
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, () => resolve())
  })
  const actualPort = (http.address() as AddressInfo).port
  return {
    http,
    port: actualPort,
    url: `http://localhost:${actualPort}`,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
      })
    },
  }
}
