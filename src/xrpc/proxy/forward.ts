import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { InvalidRequestError, ResponseType, UpstreamFailureError, UpstreamTimeoutError, XRPCError } from '@atproto/xrpc-server'
import { ByteLimit, OutboundFetchError, type OutboundStream, type OutboundStreamResponse } from '../../identity/safe-fetch.js'
import { BodyError, declaredLengthOver } from '../body.js'

/** Request headers a forwarded call carries over from the client (besides the body's own). */
const REQUEST_HEADERS = ['accept-language', 'atproto-accept-labelers', 'x-bsky-topics'] as const

/** Answer headers passed back to the client (and every `ratelimit-*`). */
const RESPONSE_HEADERS = [
  'content-type',
  'content-encoding',
  'content-length',
  'content-language',
  'atproto-repo-rev',
  'atproto-content-labelers',
  'retry-after',
] as const

/** The answer's headers that matter to the client, as they came. */
export function passedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name of RESPONSE_HEADERS) {
    const value = headers[name]
    if (value !== undefined) out[name] = value
  }
  for (const name in headers) {
    const value = headers[name]
    if (name.startsWith('ratelimit-') && value !== undefined) out[name] = value
  }
  return out
}

export function isJsonType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType.trim())
}

export type ForwardedCall = {
  send: OutboundStream
  /** the service's endpoint (its origin is used) */
  endpoint: string
  req: IncomingMessage
  /** the method called: the call goes to `/xrpc/<nsid>` with the client's query as sent */
  nsid: string
  /** a fresh service-auth token for the service */
  token: string
  /** largest request body passed on (bytes as sent) */
  bodyLimit: number
}

/**
 * Sends the client's call on, its body streamed as it arrives, and hands back the service's
 * answer with its body unread. Errors (XRPC): the endpoint refused by the outbound policy 400
 * InvalidRequest; the service unreachable, or its answer too large, 502 UpstreamFailure; no
 * answer in time 504 UpstreamTimeout; a body over the limit 413 PayloadTooLarge.
 */
export async function sendCall(call: ForwardedCall, cancelWith: (cancel: () => void) => void): Promise<OutboundStreamResponse> {
  const { req } = call
  const method = req.method === 'POST' ? 'POST' : req.method === 'HEAD' ? 'HEAD' : 'GET'
  const headers: OutgoingHttpHeaders = {
    'accept-encoding': req.headers['accept-encoding'] || 'identity',
    authorization: `Bearer ${call.token}`,
  }
  for (const name of REQUEST_HEADERS) if (req.headers[name] !== undefined) headers[name] = req.headers[name]
  let limit: ByteLimit | undefined
  if (method === 'POST') {
    const tooLarge = () => new BodyError(413, 'PayloadTooLarge', `request body is larger than ${call.bodyLimit} bytes`)
    if (declaredLengthOver(req, call.bodyLimit)) throw tooLarge()
    for (const name of ['content-type', 'content-encoding', 'content-length'] as const) {
      if (req.headers[name] !== undefined) headers[name] = req.headers[name]
    }
    limit = new ByteLimit(call.bodyLimit, tooLarge)
  } else {
    // a query's body is not passed on
    req.resume()
  }
  // the path is rebuilt from the method rather than taken from the client
  const q = req.url!.indexOf('?')
  const url = new URL(`/xrpc/${call.nsid}${q === -1 ? '' : req.url!.slice(q)}`, call.endpoint)
  try {
    return await call.send({ url, method, headers, body: limit ? req.pipe(limit) : undefined, cancelWith })
  } catch (err) {
    if (limit?.exceeded) throw limit.error()
    throw upstreamError(err)
  }
}

/** An outbound failure as the XRPC error the client gets. */
export function upstreamError(err: unknown): unknown {
  if (!(err instanceof OutboundFetchError)) return err
  switch (err.kind) {
    case 'refused':
      return new InvalidRequestError(`The service's endpoint is not one this server may call: ${err.message}`)
    case 'timeout':
      return new UpstreamTimeoutError('Upstream service did not answer in time')
    case 'too-large':
      return new UpstreamFailureError(`Upstream answer too large: ${err.message}`)
    default:
      return new UpstreamFailureError('Upstream service unreachable')
  }
}

/**
 * An error answer that is not an XRPC error (no JSON body: a proxy's HTML page...) becomes one
 * with the same status (a 500 becomes 502: it is not this server's failure); its body is dropped.
 */
export function nonXrpcError(answer: OutboundStreamResponse): XRPCError {
  answer.body.destroy()
  const status = answer.status === 500 ? 502 : answer.status
  const name = ResponseType[status as ResponseType] ?? 'UpstreamFailure'
  return new XRPCError(status, `Upstream service answered ${answer.status} without an XRPC error body`, name)
}

/**
 * Streams the answer to the client: its status, the headers that matter and its body as it
 * arrives. A body cut off upstream (or over the limit) cuts the client's answer: its status
 * is already sent. Resolves once the answer is complete or cut.
 */
export function streamAnswer(answer: OutboundStreamResponse, res: ServerResponse): Promise<void> {
  res.writeHead(answer.status, passedHeaders(answer.headers))
  return pipeBody(answer.body, res)
}

/**
 * The body piped to the client's answer; resolves once the answer is finished or cut. An error
 * of the body cuts the answer (its status is already sent); a client gone away stops the body.
 * Not stream.pipeline(): that costs an AbortController and a DOMException on every call.
 */
export function pipeBody(body: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const failed = () => res.destroy()
    body.once('error', failed)
    res.once('close', () => {
      body.off('error', failed)
      if (!res.writableFinished) body.destroy()
      resolve()
    })
    body.pipe(res)
  })
}
