import type { IncomingMessage } from 'node:http'
import proxyAddr from 'proxy-addr'

/** Proxies whose X-Forwarded-For is believed: this host and private networks (as the express app is set). */
export const TRUSTED_PROXIES = ['loopback', 'linklocal', 'uniquelocal']
const trust = proxyAddr.compile(TRUSTED_PROXIES)

/** The client's address, as express's `req.ip` gives it with the same trusted proxies. */
export function clientIp(req: IncomingMessage): string {
  return proxyAddr(req, trust)
}
