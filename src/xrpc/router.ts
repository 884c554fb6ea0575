import type { LexXrpcProcedure, LexXrpcQuery, Lexicons } from '@atproto/lexicon'
import { xrpcMethodDef } from '../lexicons.js'
import { RateLimitLayer } from './rate-limit/layer.js'
import { PRESET_LIMITS } from './rate-limit/presets.js'
import type { MethodConfig, ProxyStep } from './types.js'

export type InputKind = 'none' | 'json' | 'stream'

export type Route = {
  nsid: string
  def: LexXrpcQuery | LexXrpcProcedure
  config: MethodConfig<unknown>
  httpMethod: 'GET' | 'POST'
  input: InputKind
}

/** The XRPC methods this server implements, each with its lexicon definition, by NSID. */
export class XrpcRouter {
  readonly routes = new Map<string, Route>()
  /** the rate limits of every call (configured from the server's config by a registration) */
  readonly rateLimits = new RateLimitLayer()
  /** where calls without a route go to another service, if anywhere */
  proxy: ProxyStep | undefined

  constructor(readonly lexicons: Lexicons) {}

  method<A>(nsid: string, config: MethodConfig<A>): void {
    const def = xrpcMethodDef(this.lexicons, nsid)
    if (!def) throw new Error(`no query or procedure lexicon for ${nsid}`)
    if (this.routes.has(nsid)) throw new Error(`XRPC method ${nsid} is registered twice`)
    const input: InputKind =
      def.type === 'query' || !def.input ? 'none' : def.input.encoding === 'application/json' ? 'json' : 'stream'
    this.routes.set(nsid, {
      nsid,
      def,
      // a method declaring no limits of its own gets the preset for its NSID, if any
      config: (config.rateLimit === undefined && PRESET_LIMITS[nsid] ? { ...config, rateLimit: PRESET_LIMITS[nsid] } : config) as MethodConfig<unknown>,
      httpMethod: def.type === 'procedure' ? 'POST' : 'GET',
      input,
    })
  }
}
