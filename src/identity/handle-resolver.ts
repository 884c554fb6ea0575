import { Resolver } from 'node:dns/promises'
import { isValidDid } from '@atproto/syntax'

const DNS_PREFIX = '_atproto.'
const TXT_PREFIX = 'did='

type CacheEntry = { did: string | null; expiresAt: number }

/**
 * Resolves foreign handles to DIDs: DNS TXT `_atproto.<handle>` and HTTPS
 * `/.well-known/atproto-did`, in parallel; DNS wins when both answer. Results (including
 * "not found") are cached for a while.
 */
export class HandleResolver {
  private cache = new Map<string, CacheEntry>()
  private dns: Resolver

  constructor(
    private opts: { timeoutMs?: number; ttlMs?: number; negativeTtlMs?: number; maxEntries?: number } = {},
  ) {
    this.dns = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: 2 })
  }

  async resolve(handle: string): Promise<string | null> {
    const now = Date.now()
    const hit = this.cache.get(handle)
    if (hit && hit.expiresAt > now) return hit.did
    const [fromDns, fromHttp] = await Promise.all([this.resolveDns(handle), this.resolveHttps(handle)])
    const did = fromDns ?? fromHttp
    const ttl = did ? (this.opts.ttlMs ?? 10 * 60_000) : (this.opts.negativeTtlMs ?? 60_000)
    if (this.cache.size >= (this.opts.maxEntries ?? 10_000)) this.cache.clear()
    this.cache.set(handle, { did, expiresAt: now + ttl })
    return did
  }

  async resolveDns(handle: string): Promise<string | null> {
    let records: string[][]
    try {
      records = await this.dns.resolveTxt(DNS_PREFIX + handle)
    } catch {
      return null
    }
    const dids = new Set(
      records
        .map((chunks) => chunks.join(''))
        .filter((v) => v.startsWith(TXT_PREFIX))
        .map((v) => v.slice(TXT_PREFIX.length).trim())
        .filter((v) => isValidDid(v)),
    )
    // several different DIDs: ambiguous, so it does not resolve
    return dids.size === 1 ? [...dids][0] : null
  }

  async resolveHttps(handle: string): Promise<string | null> {
    try {
      const res = await fetch(`https://${handle}/.well-known/atproto-did`, {
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 3000),
        redirect: 'follow',
      })
      if (!res.ok) {
        await res.body?.cancel()
        return null
      }
      const text = (await res.text()).slice(0, 2048).trim()
      const did = text.split('\n')[0].trim()
      return isValidDid(did) ? did : null
    } catch {
      return null
    }
  }
}
