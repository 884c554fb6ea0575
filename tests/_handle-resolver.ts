// A HandleResolver built as the server builds it (dev mode, SSRF protection on), except that its
// HTTPS method may use plain HTTP on any port and asks `target` (HTTPS on 443 cannot be served
// here), and its DNS method asks `dns`.
import type { Resolver } from 'node:dns/promises'
import { HandleResolver, wellKnownFetchPolicy, type HandleResolverOptions } from '../src/identity/handle-resolver.ts'
import { createOutboundFetch } from '../src/identity/safe-fetch.ts'
import type { HttpTarget } from './_http-target.ts'

export function handleResolverAgainst(
  dns: Resolver,
  target: HttpTarget,
  opts: Omit<HandleResolverOptions, 'dns' | 'fetch' | 'wellKnownUrl'> = {},
): HandleResolver {
  const policy = {
    ...wellKnownFetchPolicy({ devMode: true, disableSsrfProtection: false }),
    protocols: ['http:'] as const,
    allowCustomPort: true,
  }
  return new HandleResolver({
    dns,
    fetch: createOutboundFetch(policy, dns),
    wellKnownUrl: (handle) => `${target.url}/.well-known/atproto-did?handle=${handle}`,
    ...opts,
  })
}
