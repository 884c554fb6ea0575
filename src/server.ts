import { createServer as createHttpServer, type RequestListener, type Server as HttpServer, STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import cors from 'cors'
import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import type { AppContext } from './context.js'
import { SUBSCRIBE_REPOS_PATH, subscribeReposHttpFallback } from './firehose/subscribe-repos.js'
import { registerWellKnown } from './well-known.js'
import { TRUSTED_PROXIES } from './xrpc/client-ip.js'
import { XrpcDispatcher } from './xrpc/dispatch.js'
import { logRequestOnFinish, sendXrpcError } from './xrpc/http-answer.js'
import { registerMethods } from './xrpc/index.js'
import { XrpcRouter } from './xrpc/router.js'

function requestLog(ctx: AppContext): RequestHandler {
  return (req, res, next) => {
    if (ctx.logger.isLevelEnabled('info')) logRequestOnFinish(ctx.logger, req, res)
    next()
  }
}

function errorHandler(ctx: AppContext): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 500
    if (status >= 400 && status < 500) {
      return sendXrpcError(res, status, { error: 'InvalidRequest', message: err?.expose ? String(err.message) : STATUS_CODES[status] ?? 'Bad Request' })
    }
    ctx.logger.error({ err: { name: err?.name, message: err?.message, stack: err?.stack } }, 'unhandled error')
    return sendXrpcError(res, 500, { error: 'InternalServerError', message: 'Internal Server Error' })
  }
}

/** What is not XRPC: the landing page and /.well-known. */
function createWebApp(ctx: AppContext): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  // X-Forwarded-For is believed only from a proxy on this host or a private network
  app.set('trust proxy', TRUSTED_PROXIES)
  app.use(requestLog(ctx))
  app.use(cors({ maxAge: 86400 }))
  app.get('/', (_req, res) => {
    res.type('text/plain').send('This is an AT Protocol Personal Data Server (Carrel).\n')
  })
  registerWellKnown(app, ctx.accounts)
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found')
  })
  app.use(errorHandler(ctx))
  return app
}

/** The HTTP request listener: every `/xrpc/` request through the XRPC dispatcher, the rest through express. */
export function createApp(ctx: AppContext): RequestListener {
  const router = new XrpcRouter(ctx.lexicons)
  registerMethods(router, ctx)
  const xrpc = new XrpcDispatcher(router, {
    logger: ctx.logger,
    jsonLimit: ctx.cfg.jsonBodyLimit,
    blobLimit: ctx.cfg.blobUploadLimit,
    version: ctx.cfg.version,
    // WebSocket upgrades of this path are taken by the firehose (src/firehose); plain requests land here
    subscriptions: new Map([[SUBSCRIBE_REPOS_PATH.slice('/xrpc/'.length), subscribeReposHttpFallback]]),
  })
  const web = createWebApp(ctx)
  return (req, res) => {
    if (req.url !== undefined && req.url.startsWith('/xrpc/')) xrpc.handle(req, res)
    else web(req, res)
  }
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
