import type { IncomingMessage, ServerResponse } from 'node:http'
import { InvalidRequestError, MethodNotImplementedError, XRPCError } from '@atproto/xrpc-server'
import { withoutStackTraces } from '../lexicon-validation.js'
import type { Logger } from '../logger.js'
import { DataModelError, jsonToLexStrict } from '../repo/data-model.js'
import { assertNoBody, BodyError, bodyPresence, declaredLengthOver, decodedBody, readStrictJson } from './body.js'
import { logRequestOnFinish, sendXrpcError } from './http-answer.js'
import { writeOutput } from './output.js'
import { parseParams } from './params.js'
import type { Route, XrpcRouter } from './router.js'
import type { ProxyStep, XrpcInput } from './types.js'

/** A request body that lexicon conversion refused (a float, a malformed $link...), with where. */
export class InputDataError extends InvalidRequestError {
  constructor(readonly path: string, message: string) {
    super(message)
  }
}

export type DispatchOptions = {
  logger: Logger
  /** largest JSON body (decoded) */
  jsonLimit: number
  /** largest streamed body (uploadBlob), by its declared length; the handler bounds what it reads */
  blobLimit: number
  version: string
  /** plain HTTP requests to WebSocket endpoints (subscribeRepos): their own answer */
  subscriptions: Map<string, (req: IncomingMessage, res: ServerResponse) => void>
}

/** JSON bodies may nest deeper than records (a record sits inside the body). */
const MAX_BODY_DEPTH = 64

/**
 * The one place that answers `/xrpc/` requests. Each call is run on Node's own request and
 * response: the NSID is looked up in the router, query parameters are decoded and validated
 * against the lexicon, the method's auth runs, a JSON body is read strictly, converted to
 * atproto data and validated against the lexicon (a stream for other encodings), and the
 * handler gets that parsed input once. Every failure is an XRPC JSON error, every answer
 * carries CORS headers.
 */
export class XrpcDispatcher {
  private readonly logRequests: boolean

  constructor(
    private readonly router: XrpcRouter,
    private readonly opts: DispatchOptions,
  ) {
    this.logRequests = opts.logger.isLevelEnabled('info')
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.logRequests) logRequestOnFinish(this.opts.logger, req, res)
    res.setHeader('Access-Control-Allow-Origin', '*')
    this.run(req, res).catch((err: unknown) => {
      // only a failure while answering a failure gets here: never let it take the process down
      this.opts.logger.error({ err: { message: (err as Error)?.message } }, 'XRPC call failed while answering')
      res.destroy()
    })
  }

  private async run(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url!
    const q = url.indexOf('?')
    let nsid = q === -1 ? url.slice(6) : url.slice(6, q)
    if (nsid.endsWith('/')) nsid = nsid.slice(0, -1)
    if (req.method === 'OPTIONS') return preflight(req, res)
    const route = this.router.routes.get(nsid)
    // rate limits (src/xrpc/rate-limit): the client's address before anything is done for the call
    if (nsid !== '_health' && this.router.rateLimits.refuseClient(req, res)) return
    if (!route) return this.noRoute(nsid, req, res)
    try {
      const method = req.method === 'HEAD' ? 'GET' : req.method
      if (method !== route.httpMethod) {
        throw new InvalidRequestError(`Incorrect HTTP method (${req.method}) expected ${route.httpMethod}`)
      }
      const params = parseParams(this.router, route, url)
      // what the headers alone can refuse is refused before auth and before any body is read
      const encoding = this.inputEncoding(route, req)
      const auth = route.config.auth ? await route.config.auth({ req, res, params }) : undefined
      const input = await this.readInput(route, req, encoding)
      // rate limits: the method's own, charged before the handler does anything
      this.router.rateLimits.chargeCall(route, { params, input, auth, req }, res)
      const output = await route.config.handler({ params, input, auth, req, res })
      await writeOutput(res, output)
    } catch (err) {
      // answered before the body was read (e.g. auth failed): the connection cannot be reused
      if (!req.complete && bodyPresence(req) === 'present' && !res.headersSent) res.setHeader('Connection', 'close')
      this.fail(route.nsid, route.config.mapError, res, err)
    }
  }

  /** The body's encoding, after the checks that need only the headers (size, presence, type). */
  private inputEncoding(route: Route, req: IncomingMessage): string | undefined {
    if (route.input === 'none') return undefined
    const own = route.config.inputLimit
    const limit = own ?? (route.input === 'json' ? this.opts.jsonLimit : this.opts.blobLimit)
    if (declaredLengthOver(req, limit)) {
      const name = route.input === 'stream' && own === undefined ? 'BlobTooLarge' : 'PayloadTooLarge'
      throw new BodyError(413, name, `request body is larger than ${limit} bytes`)
    }
    if (bodyPresence(req) === 'missing') throw new InvalidRequestError('A request body is expected but none was provided')
    const encoding = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (!encoding) throw new InvalidRequestError('Request encoding (Content-Type) required but not provided')
    if (route.input === 'json' && encoding !== 'application/json') {
      throw new InvalidRequestError(`Wrong request encoding (Content-Type): ${encoding}`)
    }
    return encoding
  }

  private async readInput(route: Route, req: IncomingMessage, encoding: string | undefined): Promise<XrpcInput | undefined> {
    if (route.input === 'none' || encoding === undefined) {
      await assertNoBody(req)
      return undefined
    }
    if (route.input === 'stream') return { encoding, body: decodedBody(req) }
    const json = await readStrictJson(req, this.opts.jsonLimit)
    let lex: unknown
    try {
      lex = jsonToLexStrict(json ?? {}, '', 0, MAX_BODY_DEPTH)
    } catch (err) {
      if (err instanceof DataModelError) throw new InputDataError(err.path, `Invalid input: ${err.message}`)
      throw err
    }
    try {
      return { encoding, body: withoutStackTraces(() => this.router.lexicons.assertValidXrpcInput(route.nsid, lex)) }
    } catch (cause) {
      throw new InvalidRequestError(cause instanceof Error ? cause.message : String(cause), undefined, { cause })
    }
  }

  /** A path this server has no handler for: a WebSocket endpoint, a call for another service, a known method, or nothing. */
  private noRoute(nsid: string, req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    if (nsid === '_health') {
      const body = JSON.stringify({ version: this.opts.version })
      res.setHeader('Content-Type', 'application/json; charset=utf-8')
      res.end(body)
      return
    }
    const subscription = this.opts.subscriptions.get(nsid)
    if (subscription) return subscription(req, res)
    const def = this.router.lexicons.getDef(nsid) as { type?: string } | undefined
    const expected = def?.type === 'procedure' ? 'POST' : def?.type === 'query' ? 'GET' : undefined
    const method = req.method === 'HEAD' ? 'GET' : req.method
    if (expected && method !== expected) {
      return sendXrpcError(res, 400, { error: 'InvalidRequest', message: `Incorrect HTTP method (${req.method}) expected ${expected}` })
    }
    const proxy = this.router.proxy
    if (proxy?.forwards(nsid, req)) return this.forward(proxy, nsid, req, res)
    const err = new MethodNotImplementedError(def ? `${nsid} is not implemented by this server` : 'Method Not Implemented')
    sendXrpcError(res, err.statusCode, err.payload)
  }

  private async forward(proxy: ProxyStep, nsid: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await proxy.forward(nsid, req, res)
    } catch (err) {
      if (!req.complete && bodyPresence(req) === 'present' && !res.headersSent) res.setHeader('Connection', 'close')
      this.fail(nsid, undefined, res, err)
    }
  }

  private fail(nsid: string, mapError: ((err: unknown) => unknown) | undefined, res: ServerResponse, err: unknown): void {
    if (err instanceof BodyError) {
      return sendXrpcError(res, err.status, { error: err.errorName, message: err.message })
    }
    const mapped = mapError ? mapError(err) : err
    const xrpcErr = XRPCError.fromError(mapped)
    if (xrpcErr.statusCode >= 500 && !(mapped instanceof XRPCError)) {
      const e = mapped as Error
      this.opts.logger.error({ nsid, err: { name: e?.name, message: e?.message, stack: e?.stack } }, 'handler failed')
    }
    sendXrpcError(res, xrpcErr.statusCode, xrpcErr.payload)
  }
}

/** A CORS preflight, answered as the `cors` middleware answers it. */
function preflight(req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 204
  res.setHeader('Access-Control-Allow-Methods', 'GET,HEAD,PUT,PATCH,POST,DELETE')
  const requested = req.headers['access-control-request-headers']
  if (requested) {
    res.setHeader('Access-Control-Allow-Headers', requested)
    res.setHeader('Vary', 'Access-Control-Request-Headers')
  }
  res.setHeader('Access-Control-Max-Age', '86400')
  res.setHeader('Content-Length', '0')
  res.end()
}
