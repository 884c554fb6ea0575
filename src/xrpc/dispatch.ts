import type { IncomingMessage, ServerResponse } from 'node:http'
import type express from 'express'
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { Server, type Auth, type MethodConfig, type Options } from '@atproto/xrpc-server'
import type { LexiconDoc, LexXrpcProcedure, LexXrpcQuery } from '@atproto/lexicon'
import { installXrpcServerSpeedups } from './xrpc-server-speedups.js'

type Route = { httpMethod: 'GET' | 'POST'; handle: RequestHandler; mapError?: (err: unknown) => unknown }

/**
 * xrpc-server's Server, which also keeps each method's request handler by NSID so that
 * {@link XrpcDispatch} can find it with one map lookup.
 */
export class XrpcServer extends Server {
  readonly routeTable = new Map<string, Route>()

  constructor(lexicons: LexiconDoc[], opts: Options) {
    installXrpcServerSpeedups()
    super(lexicons, opts)
  }

  /**
   * Rewrites the errors of one method before they are answered (e.g. to give a lexicon
   * failure the error name clients expect). Register after the method.
   */
  mapErrors(nsid: string, mapError: (err: unknown) => unknown): void {
    const route = this.routeTable.get(nsid)
    if (!route) throw new Error(`no XRPC method ${nsid}`)
    route.mapError = mapError
    this.routes.use(`/xrpc/${nsid}`, ((err, _req, _res, next) => next(mapError(err))) as ErrorRequestHandler)
  }

  protected override async addRoute<A extends Auth = Auth>(nsid: string, def: LexXrpcQuery | LexXrpcProcedure, config: MethodConfig<A>): Promise<void> {
    const handle = this.createHandler(nsid, def, config)
    const httpMethod = def.type === 'procedure' ? 'POST' : 'GET'
    this.routeTable.set(nsid, { httpMethod, handle })
    if (httpMethod === 'POST') this.routes.post(`/xrpc/${nsid}`, handle)
    else this.routes.get(`/xrpc/${nsid}`, handle)
  }
}

/**
 * Runs XRPC method calls without walking express's middleware stack and route list.
 *
 * express tests a request against every route's regular expression in turn (two per method,
 * after every app middleware) and re-parses headers on the way out; on a getRecord that was
 * half of the server's CPU time. Here the NSID is looked up in a map and xrpc-server's own
 * handler for it runs directly, on express's request and response prototypes, after the same
 * middlewares the app would have run. Anything else (other paths, the wrong HTTP method, CORS
 * preflights, HEAD) is left to the express app, which answers as before.
 */
export class XrpcDispatch {
  constructor(
    private readonly xrpc: XrpcServer,
    private readonly app: express.Express,
    /** run in order before the handler, as the app runs them */
    private readonly middlewares: RequestHandler[],
    /** the app's error handler, for failures in those middlewares */
    private readonly onMiddlewareError: ErrorRequestHandler,
    /** what xrpc-server's own error middleware does with a handler's failure */
    private readonly onHandlerError: (err: unknown, res: express.Response) => void,
  ) {}

  /** The Node `request` listener: XRPC methods here, everything else through the app. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const route = this.routeFor(req)
    if (route) this.run(route, req, res)
    else this.app(req, res)
  }

  private routeFor(req: IncomingMessage): Route | undefined {
    const url = req.url
    if (url === undefined || !url.startsWith('/xrpc/')) return undefined
    const q = url.indexOf('?', 6)
    const route = this.xrpc.routeTable.get(q === -1 ? url.slice(6) : url.slice(6, q))
    return route && route.httpMethod === req.method ? route : undefined
  }

  private run(route: Route, rawReq: IncomingMessage, rawRes: ServerResponse): void {
    const router = this.xrpc.router
    // what express's `init` middleware does, with the xrpc-server app's prototypes and settings
    const req = Object.setPrototypeOf(rawReq, router.request) as express.Request
    const res = Object.setPrototypeOf(rawRes, router.response) as express.Response
    req.res = res
    res.req = req
    res.locals = Object.create(null)
    const middlewareFailed = (err: unknown) => this.onMiddlewareError(err, req, res, () => res.destroy())
    const handlerFailed = (err: unknown) => this.onHandlerError(route.mapError ? route.mapError(err) : err, res)
    const stages = this.middlewares
    let i = 0
    const next = (err?: unknown): void => {
      if (err) return middlewareFailed(err)
      if (i < stages.length) {
        const stage = stages[i++]
        try {
          stage(req, res, next)
        } catch (e) {
          middlewareFailed(e)
        }
        return
      }
      req.next = handlerFailed
      Promise.resolve(route.handle(req, res, handlerFailed)).catch(handlerFailed)
    }
    next()
  }
}
