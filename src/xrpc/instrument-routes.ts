import { noteCaller } from './http-answer.js'
import type { InFlight } from './in-flight.js'
import type { XrpcRouter } from './router.js'
import type { AuthContext } from './types.js'

type Credentials = { credentials?: { did?: unknown; iss?: unknown } }

/** The DID that credentials proved: an account's session, or the issuer of a service-auth token. */
function callerDid(auth: unknown): string | undefined {
  const c = (auth as Credentials | undefined)?.credentials
  if (typeof c?.did === 'string') return c.did
  if (typeof c?.iss === 'string') return c.iss
  return undefined
}

/**
 * Wraps every registered method, leaving what it does unchanged: its auth notes the caller's DID
 * for the request log line, and its handler is counted in `inFlight` until it settles (shutdown
 * waits for handlers before closing the database).
 */
export function instrumentRoutes(router: XrpcRouter, inFlight: InFlight): void {
  for (const route of router.routes.values()) {
    const { auth, handler } = route.config
    route.config = {
      ...route.config,
      auth:
        auth &&
        (async (ctx: AuthContext) => {
          const out = await auth(ctx)
          const did = callerDid(out)
          if (did !== undefined) noteCaller(ctx.res, did)
          return out
        }),
      handler: (ctx) => inFlight.track(() => handler(ctx)),
    }
  }
}
