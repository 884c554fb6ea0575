import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ErrorRequestHandler, Express } from 'express'
import { InvalidRequestError, Server, XRPCError, type Auth, type MethodConfig } from '@atproto/xrpc-server'
import { jsonToLex, lexToJson, type LexValue, type LexXrpcProcedure, type LexXrpcQuery } from '@atproto/lexicon'
import { withoutStackTraces } from '../lexicon-validation.js'
import type { Logger } from '../logger.js'
import { BodyError, keepRawJsonBody, readStrictJsonBody } from './body.js'
import { logRequestOnFinish, sendXrpcError } from './http-answer.js'

type InputKind = 'none' | 'json' | 'other'

/**
 * A method's configuration as this dispatcher calls it. Our handlers and auth functions use
 * only what Node's request and response have (headers, setHeader, the body stream), never
 * express's additions.
 */
type RouteConfig = {
  auth?: (ctx: { req: IncomingMessage; res: ServerResponse; params: Record<string, unknown> }) => unknown
  handler: (ctx: {
    params: Record<string, unknown>
    input: { encoding: string; body: unknown } | undefined
    auth: unknown
    req: IncomingMessage
    res: ServerResponse
    signal: AbortSignal
    resetRouteRateLimits: () => Promise<void>
  }) => unknown
}

type Route = {
  nsid: string
  def: LexXrpcQuery | LexXrpcProcedure
  config: RouteConfig
  httpMethod: 'GET' | 'POST'
  input: InputKind
  mapError?: (err: unknown) => unknown
}

/**
 * xrpc-server's Server, which also keeps every method's lexicon definition and configuration
 * by NSID for {@link XrpcDispatch}. The methods stay registered on xrpc-server's own express
 * routes too: requests the dispatcher leaves alone are answered there.
 */
export class XrpcServer extends Server {
  readonly routeTable = new Map<string, Route>()

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
    const input: InputKind = def.type === 'query' || !def.input ? 'none' : def.input.encoding === 'application/json' ? 'json' : 'other'
    const httpMethod = def.type === 'procedure' ? 'POST' : 'GET'
    this.routeTable.set(nsid, { nsid, def, config: config as unknown as RouteConfig, httpMethod, input })
    await super.addRoute(nsid, def, config)
  }
}

export type DispatchOptions = {
  jsonLimit: number
  logger: Logger
  /** what an error becomes on the wire (and is logged as) */
  errorParser: (err: unknown) => XRPCError
}

const NEVER_ABORTED = new AbortController().signal
const noLimitsToReset = async () => {}

/**
 * Runs XRPC method calls on Node's own request and response objects.
 *
 * Through express, a call cost four times the method's own work: express puts its prototypes
 * under Node's request and response (which alone doubled the cost of a getRecord, as every
 * internal access on them went through a changed object shape), walks its middlewares and
 * two regular expressions per method, and re-parses headers on the way out. Here the NSID is
 * looked up in a map and the method's configuration (auth, handler) runs as xrpc-server would
 * run it: query parameters decoded and checked against the lexicon, JSON input read strictly
 * and checked against the lexicon, the output written with its encoding and headers, errors as
 * XRPC errors. Requests this path does not take are handed to the express app unchanged:
 * other paths, the wrong HTTP method, CORS preflights, HEAD, bodies that are not plain JSON
 * (uploadBlob, compressed bodies), bodies sent to methods that take none.
 */
export class XrpcDispatch {
  private readonly logRequests: boolean

  constructor(
    private readonly xrpc: XrpcServer,
    private readonly app: Express,
    private readonly opts: DispatchOptions,
  ) {
    this.logRequests = opts.logger.isLevelEnabled('info')
  }

  /** The Node `request` listener: XRPC method calls here, everything else through the app. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const route = this.routeFor(req)
    if (!route) return void this.app(req, res)
    this.run(route, req, res).catch((err: unknown) => {
      // only a failure while answering a failure gets here: never let it take the process down
      this.opts.logger.error({ err: { message: (err as Error)?.message } }, 'XRPC call failed while answering')
      res.destroy()
    })
  }

  private routeFor(req: IncomingMessage): Route | undefined {
    const url = req.url
    if (url === undefined || !url.startsWith('/xrpc/')) return undefined
    const q = url.indexOf('?', 6)
    const route = this.xrpc.routeTable.get(q === -1 ? url.slice(6) : url.slice(6, q))
    if (!route || route.httpMethod !== req.method) return undefined
    const headers = req.headers
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')
    if (route.input === 'none') return hasBody ? undefined : route
    if (route.input === 'other' || headers['content-encoding'] !== undefined) return undefined
    const type = (headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    return type === 'application/json' ? route : undefined
  }

  private async run(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.logRequests) logRequestOnFinish(this.opts.logger, req, res)
    // what the app's cors() middleware adds to a simple request
    res.setHeader('Access-Control-Allow-Origin', '*')
    try {
      let body: unknown
      if (route.input === 'json') body = (await readStrictJsonBody(req, this.opts.jsonLimit)) ?? {}
      const params = this.params(route, req.url!)
      const auth = route.config.auth ? await route.config.auth({ req, res, params }) : undefined
      let input: { encoding: string; body: unknown } | undefined
      if (route.input === 'json') {
        keepRawJsonBody(req, body)
        input = { encoding: 'application/json', body: this.validInput(route, body) }
      }
      const output = await route.config.handler({
        params,
        input,
        auth,
        req,
        res,
        signal: NEVER_ABORTED,
        resetRouteRateLimits: noLimitsToReset,
      })
      await this.respond(res, output)
    } catch (err) {
      this.fail(route, res, err)
    }
  }

  /** Query parameters decoded by their lexicon types and validated, as xrpc-server does. */
  private params(route: Route, url: string): Record<string, unknown> {
    const q = url.indexOf('?')
    const raw = Object.create(null) as Record<string, string | string[]>
    if (q !== -1 && q < url.length - 1) {
      const search = new URLSearchParams(url.slice(q + 1))
      if (search.has('__proto__')) throw new InvalidRequestError('Invalid query parameter: __proto__', 'InvalidQueryParameter')
      for (const key of search.keys()) {
        if (key in raw) continue
        const values = search.getAll(key)
        raw[key] = values.length === 1 ? values[0] : values
      }
    }
    const properties = route.def.parameters?.properties ?? {}
    const decoded: Record<string, unknown> = {}
    for (const key in raw) {
      const property = properties[key]
      if (!property) continue
      const value = raw[key]
      if (property.type === 'array') {
        decoded[key] = ([] as string[]).concat(value).flatMap((v) => decodeParam(property.items.type, v) ?? [])
      } else {
        decoded[key] = decodeParam(property.type, value)
      }
    }
    try {
      return withoutStackTraces(() => this.xrpc.lex.assertValidXrpcParams(route.nsid, decoded)) as Record<string, unknown>
    } catch (cause) {
      throw new InvalidRequestError(String(cause), undefined, { cause })
    }
  }

  private validInput(route: Route, body: unknown): unknown {
    if (route.def.type !== 'procedure' || !route.def.input?.schema) return body
    try {
      return withoutStackTraces(() => this.xrpc.lex.assertValidXrpcInput(route.nsid, jsonToLex(body as never)))
    } catch (cause) {
      throw new InvalidRequestError(cause instanceof Error ? cause.message : String(cause), undefined, { cause })
    }
  }

  private async respond(res: ServerResponse, output: unknown): Promise<void> {
    if (!output) {
      res.statusCode = 200
      res.end()
      return
    }
    const out = output as { encoding?: string; headers?: Record<string, string>; buffer?: Uint8Array; stream?: Readable; body?: unknown; status?: number }
    if (typeof out.status === 'number' && out.status >= 400) throw XRPCError.fromError(output)
    if (typeof out.encoding !== 'string') throw new Error('XRPC handler returned no encoding')
    res.statusCode = 200
    if (out.headers) for (const [name, value] of Object.entries(out.headers)) if (value != null) res.setHeader(name, value)
    const stream = out.stream ?? (out.body instanceof Readable ? out.body : undefined)
    if (out.buffer === undefined && stream === undefined && (out.encoding === 'json' || out.encoding === 'application/json')) {
      res.setHeader('Content-Type', 'application/json; charset=utf-8')
      res.end(JSON.stringify(lexToJson(out.body as LexValue)))
      return
    }
    res.setHeader('Content-Type', out.encoding)
    if (out.buffer !== undefined) res.end(out.buffer)
    else if (stream !== undefined) await pipeline(stream, res)
    else res.end(out.body as Uint8Array | string)
  }

  private fail(route: Route, res: ServerResponse, err: unknown): void {
    if (err instanceof BodyError) {
      if (err.status === 413 && !res.headersSent) res.setHeader('Connection', 'close')
      return sendXrpcError(res, err.status, { error: err.errorName, message: err.message })
    }
    const xrpcErr = this.opts.errorParser(route.mapError ? route.mapError(err) : err)
    sendXrpcError(res, xrpcErr.statusCode, xrpcErr.payload)
  }
}

/** A query parameter's value by its lexicon type, as xrpc-server decodes it. */
function decodeParam(type: string, value: string | string[] | undefined): unknown {
  if (!value) return undefined
  const s = String(value)
  if (type === 'string' || type === 'datetime') return s
  if (type === 'float') return Number(s)
  if (type === 'integer') return parseInt(s, 10) || 0
  if (type === 'boolean') return s === 'true'
  return undefined
}
