import type { AccountStore } from '../accounts/account-store.js'
import { handleServed } from '../accounts/status.js'

export type TlsCheckAnswer = { status: 200 | 400 | 404; body: { success: true } | { error: string; message: string } }

/**
 * The "ask" endpoint of a TLS proxy issuing certificates on demand (Caddy's `on_demand_tls`):
 * yes only for our own hostname and for the handles under our handle domains that an account
 * holds and is served under (not taken down), the hosts `/.well-known/atproto-did` answers for. Anything else would let anyone make
 * the proxy request certificates for names of their choosing (and run into the CA's limits).
 */
export function tlsCheck(domain: unknown, hostname: string, handleDomains: readonly string[], accounts: AccountStore): TlsCheckAnswer {
  if (typeof domain !== 'string' || domain === '') {
    return { status: 400, body: { error: 'InvalidRequest', message: 'domain is required (one domain name)' } }
  }
  const name = domain.toLowerCase().replace(/\.$/, '')
  if (name === hostname) return { status: 200, body: { success: true } }
  if (!handleDomains.some((suffix) => name.endsWith(suffix) && name.length > suffix.length)) {
    return { status: 400, body: { error: 'InvalidRequest', message: 'handles are not provided on this domain' } }
  }
  if (!handleServed(accounts.getByHandle(name))) return { status: 404, body: { error: 'NotFound', message: 'no account is served under this handle' } }
  return { status: 200, body: { success: true } }
}
