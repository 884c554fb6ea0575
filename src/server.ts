import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server as HttpServer,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import cors from 'cors'
import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import type { AppContext } from './context.js'
import { xrpcMethodDef } from './lexicons.js'
import { SUBSCRIBE_REPOS_PATH, subscribeReposHttpFallback } from './firehose/subscribe-repos.js'
import type { CarrelMetrics } from './metrics/carrel-metrics.js'
import { landingPage, ROBOTS_TXT } from './web/landing-page.js'
import { tlsCheck } from './web/tls-check.js'
import { registerWellKnown } from './well-known.js'
import { TRUSTED_PROXIES } from './xrpc/client-ip.js'
import { XrpcDispatcher } from './xrpc/dispatch.js'
import { logRequestOnFinish, sendXrpcError } from './xrpc/http-answer.js'
import { InFlight } from './xrpc/in-flight.js'
import { instrumentRoutes } from './xrpc/instrument-routes.js'
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

/** Paths of the web app that count as themselves in the metrics (anything else is "other"). */
const WEB_PATHS = new Set(['/', '/robots.txt', '/tls-check', '/.well-known/atproto-did'])

/** What is not XRPC: the landing page, robots.txt, the TLS proxy's ask endpoint and /.well-known. */
function createWebApp(ctx: AppContext): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  // X-Forwarded-For is believed only from a proxy on this host or a private network
  app.set('trust proxy', TRUSTED_PROXIES)
  app.use(requestLog(ctx))
  app.use(cors({ maxAge: 86400 }))
  const page = landingPage(ctx.cfg)
  app.get('/', (_req, res) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
      'X-Content-Type-Options': 'nosniff',
    })
    res.type('html').send(page)
  })
  app.get('/robots.txt', (_req, res) => {
    res.type('text/plain').send(ROBOTS_TXT)
  })
  app.get('/tls-check', (req, res) => {
    const answer = tlsCheck(req.query.domain, ctx.cfg.hostname, ctx.cfg.serviceHandleDomains, ctx.accounts)
    res.status(answer.status).json(answer.body)
  })
  registerWellKnown(app, ctx.accounts)
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found')
  })
  app.use(errorHandler(ctx))
  return app
}

export type AppOptions = {
  /** counts every request by method (or web path) and status */
  metrics?: CarrelMetrics
  /** XRPC handlers under way, for shutdown to wait for */
  inFlight?: InFlight
}

/** The `method` label of a request: a method of a known lexicon, `_health`, or the web path; else unknown/other. */
function metricsMethod(url: string, known: (nsid: string) => boolean): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path.startsWith('/xrpc/')) {
    const nsid = path.slice(6).replace(/\/$/, '')
    return known(nsid) ? nsid : 'unknown'
  }
  return WEB_PATHS.has(path) ? path : 'other'
}

function countOnClose(metrics: CarrelMetrics, method: string, res: ServerResponse): void {
  res.once('close', () => metrics.request(method, res.writableFinished ? String(res.statusCode) : 'aborted'))
}

/** The HTTP request listener: every `/xrpc/` request through the XRPC dispatcher, the rest through express. */
export function createApp(ctx: AppContext, opts: AppOptions = {}): RequestListener {
  const router = new XrpcRouter(ctx.lexicons)
  registerMethods(router, ctx)
  instrumentRoutes(router, opts.inFlight ?? new InFlight())
  const xrpc = new XrpcDispatcher(router, {
    logger: ctx.logger,
    jsonLimit: ctx.cfg.jsonBodyLimit,
    blobLimit: ctx.cfg.blobUploadLimit,
    version: ctx.cfg.version,
    // WebSocket upgrades of this path are taken by the firehose (src/firehose); plain requests land here
    subscriptions: new Map([[SUBSCRIBE_REPOS_PATH.slice('/xrpc/'.length), subscribeReposHttpFallback]]),
  })
  const web = createWebApp(ctx)
  const { metrics } = opts
  // a method of a lexicon this server knows is its own label (forwarded calls too): a bounded set
  const known = (nsid: string) =>
    router.routes.has(nsid) || nsid === '_health' || `/xrpc/${nsid}` === SUBSCRIBE_REPOS_PATH || xrpcMethodDef(ctx.lexicons, nsid) !== undefined
  return (req, res) => {
    if (metrics) countOnClose(metrics, metricsMethod(req.url ?? '', known), res)
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
  /**
   * Stops taking connections. Answers under way go on; every connection closes after its
   * current answer (`Connection: close`), idle ones at once.
   */
  stopAccepting(): void
  /** Resolves true once every request taken has been answered, false if `timeoutMs` passed first. */
  drain(timeoutMs: number): Promise<boolean>
  /** answers still under way are cut (their connections closed, not ended) */
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
  const answers = new AnswersUnderWay(http)
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, () => resolve())
  })
  const actualPort = (http.address() as AddressInfo).port
  let closed: Promise<void> | undefined
  const stopAccepting = () => {
    if (closed) return
    answers.draining = true
    closed = new Promise<void>((resolve) => http.close(() => resolve()))
    http.closeIdleConnections()
  }
  return {
    http,
    port: actualPort,
    url: `http://localhost:${actualPort}`,
    stopAccepting,
    drain: (timeoutMs) => answers.none(timeoutMs),
    async close() {
      stopAccepting()
      http.closeAllConnections()
      await closed
    },
  }
}

/**
 * The requests taken and not yet answered, so that a shutdown can let them finish. While
 * draining, each answer tells its client the connection closes after it, and connections left
 * idle are closed.
 */
class AnswersUnderWay {
  draining = false
  private readonly open = new Set<ServerResponse>()
  private readonly underWay = new InFlight()

  constructor(private readonly http: HttpServer) {
    // before the app's listener, which may answer at once
    http.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      this.open.add(res)
      const answered = this.underWay.begin()
      if (this.draining) res.setHeader('Connection', 'close')
      res.once('close', () => {
        this.open.delete(res)
        // a keep-alive connection whose answer began before draining is idle now
        if (this.draining) setImmediate(() => this.http.closeIdleConnections())
        answered()
      })
    })
  }

  none(timeoutMs: number): Promise<boolean> {
    for (const res of this.open) if (!res.headersSent) res.setHeader('Connection', 'close')
    return this.underWay.idle(timeoutMs)
  }
}
