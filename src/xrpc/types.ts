import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { RateLimitSpec } from './rate-limit/spec.js'

/** A procedure's input: JSON bodies arrive parsed, converted and validated; others as a stream. */
export type XrpcInput = { encoding: string; body: unknown }

export type AuthContext = { req: IncomingMessage; res: ServerResponse; params: Record<string, unknown> }

export type HandlerContext<A> = {
  /** query parameters, decoded by their lexicon types and validated */
  params: Record<string, unknown>
  input: XrpcInput | undefined
  /** what the method's auth function returned */
  auth: A
  req: IncomingMessage
  res: ServerResponse
}

/**
 * What a handler answers: nothing (200, empty), a JSON `body` (lex values allowed: CIDs, bytes
 * and blob refs become their JSON forms), or bytes / a stream in `encoding`.
 */
export type HandlerOutput = {
  encoding: string
  headers?: Record<string, string>
  body?: unknown
  buffer?: Uint8Array
  stream?: Readable
} | void

export type MethodConfig<A = undefined> = {
  auth?: (ctx: AuthContext) => A | Promise<A>
  handler: (ctx: HandlerContext<A>) => HandlerOutput | Promise<HandlerOutput>
  /** rewrites the method's errors before they are answered (e.g. a spec error name) */
  mapError?: (err: unknown) => unknown
  /**
   * Largest request body this method takes, in bytes, instead of the server-wide limit for its
   * encoding (importRepo's CAR); a larger declared length is 413 PayloadTooLarge before anything
   * is read. The handler still bounds what it reads.
   */
  inputLimit?: number
  /** this method's rate limits (src/xrpc/rate-limit/spec.ts); the per-address limit applies anyway */
  rateLimit?: RateLimitSpec<A>[]
}

/**
 * Forwarding to other services (src/xrpc/proxy): the dispatcher hands it the calls it has no
 * handler for.
 */
export type ProxyStep = {
  /** whether the call goes to another service: an `atproto-proxy` header, or a default service for the method */
  forwards(nsid: string, req: IncomingMessage): boolean
  /** forwards it and writes the answer; throws XRPC errors for what is refused before an answer begins */
  forward(nsid: string, req: IncomingMessage, res: ServerResponse): Promise<void>
}
