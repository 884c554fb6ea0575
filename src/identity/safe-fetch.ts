import dns, { type LookupAddress } from 'node:dns'
import { Resolver } from 'node:dns/promises'
import { createRequire } from 'node:module'
import type { LookupFunction } from 'node:net'
import type * as FetchNode from '@atproto-labs/fetch-node'
import ipaddr from 'ipaddr.js'
import { keepingGlobalFetchDispatcher } from './global-fetch-guard.js'

let fetchNodeModule: typeof FetchNode | undefined

/**
 * @atproto-labs/fetch-node, loaded at the first outbound fetch rather than at start-up: it loads
 * three versions of undici (~170 ms and ~40 MB of memory), which a server that never resolves a
 * foreign handle does not need. Loaded synchronously, with Node's global fetch dispatcher kept.
 */
function fetchNode(): typeof FetchNode {
  fetchNodeModule ??= keepingGlobalFetchDispatcher(
    () => createRequire(import.meta.url)('@atproto-labs/fetch-node') as typeof FetchNode,
  )
  return fetchNodeModule
}

/** What an outbound fetch may reach and read; see `createOutboundFetch`. */
export type OutboundPolicy = {
  protocols: readonly ('http:' | 'https:')[]
  /** false: only the protocol's own port (443 for https, 80 for http) */
  allowCustomPort: boolean
  /** false (SSRF protection): refuse every address that is not public unicast */
  allowNonPublicAddresses: boolean
  maxBodyBytes: number
  timeoutMs: number
}

/** refused: the policy forbids the URL or an address it resolves to; nothing was sent. */
export type OutboundFailure = 'refused' | 'timeout' | 'too-large' | 'failed'

export class OutboundFetchError extends Error {
  constructor(
    readonly kind: OutboundFailure,
    message: string,
  ) {
    super(message)
  }
}

/** The body is read only for 2xx answers; other answers come with an empty body. */
export type OutboundResponse = { status: number; contentType: string | undefined; body: Uint8Array }

export type OutboundFetch = (url: string, opts?: { accept?: string }) => Promise<OutboundResponse>

/**
 * A c-ares resolver on the process's DNS servers (`dns.setServers` included), giving up after a
 * few seconds of silence (1.5 s for the first try; c-ares lengthens later ones). Callers that
 * need an exact deadline set their own.
 */
export function createOutboundDns(opts: { timeoutMs?: number; tries?: number } = {}): Resolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 1500, tries: opts.tries ?? 2 })
  // through the module object: a named import would keep the servers it saw when first imported
  resolver.setServers(dns.getServers())
  return resolver
}

class AddressRefusedError extends Error {}

/** public unicast, with IPv4-mapped IPv6 judged as the IPv4 address it maps (as fetch-node does) */
export function isPublicAddress(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'unicast'
}

async function resolveAddresses(resolver: Resolver, hostname: string, family: 0 | 4 | 6): Promise<LookupAddress[]> {
  const none = (): string[] => []
  const [v4, v6] = await Promise.all([
    family === 6 ? [] : resolver.resolve4(hostname).catch(none),
    family === 4 ? [] : resolver.resolve6(hostname).catch(none),
  ])
  const addresses = [...v4.map((address) => ({ address, family: 4 })), ...v6.map((address) => ({ address, family: 6 }))]
  if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' })
  return addresses
}

function familyOf(option: number | string | undefined): 0 | 4 | 6 {
  if (option === 4 || option === 'IPv4') return 4
  if (option === 6 || option === 'IPv6') return 6
  return 0
}

/** The `lookup` for the guarded dispatcher: every address of the name must be public. */
export function publicAddressLookup(resolver: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolveAddresses(resolver, hostname, familyOf(options.family)).then(
      (addresses) => {
        if (!addresses.every((a) => isPublicAddress(a.address))) {
          callback(new AddressRefusedError(`${hostname} resolves to a non-public address`), '', 0)
        } else if (options.all) {
          callback(null, addresses)
        } else {
          callback(null, addresses[0].address, addresses[0].family)
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    )
  }
}

function failure(err: unknown, signal: AbortSignal): OutboundFetchError {
  if (err instanceof OutboundFetchError) return err
  if (signal.aborted) return new OutboundFetchError('timeout', 'no complete answer in time')
  const cause = (err as { cause?: unknown })?.cause ?? err
  // fetch-node's dispatcher vetoes a URL with "Blocked by url policy (<origin>): <reason>"
  if (cause instanceof AddressRefusedError || /^Blocked by url policy/.test((cause as Error)?.message ?? '')) {
    return new OutboundFetchError('refused', (cause as Error).message)
  }
  const code = (cause as { code?: string })?.code
  return new OutboundFetchError('failed', code ?? (cause as Error)?.message ?? 'fetch failed')
}

async function readAtMost(res: Response, maxBytes: number): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0)
  const reader = res.body.getReader()
  const stop = () => void reader.cancel().catch(() => {})
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > maxBytes) {
    stop()
    throw new OutboundFetchError('too-large', `Content-Length ${declared} is over ${maxBytes} bytes`)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return Buffer.concat(chunks, total)
    total += value.byteLength
    if (total > maxBytes) {
      stop()
      throw new OutboundFetchError('too-large', `body is over ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
}

/**
 * A fetch for hosts a client chose (handle resolution, did:web, later service proxying).
 *
 * @atproto-labs/fetch-node's guarded dispatcher does the core of it: every connection it
 * makes gets its addresses from the `lookup` we hand it, so the address that was checked is
 * the address connected to (no second DNS lookup), and literal-IP hosts are checked by URL
 * (every hop, though we follow none) before any connection. What this adds:
 * - the lookup runs on c-ares (`dns.Resolver`) with a timeout, not on `getaddrinfo`: that
 *   runs in libuv's four-thread pool, which file I/O, zlib and scrypt share, and it cannot be
 *   cancelled, so a few names with slow DNS would stall the whole server;
 * - the body is read from the stream and reading stops past `maxBodyBytes` (counted after
 *   decompression; undici decompresses lazily, as it is read); a larger `Content-Length` is
 *   refused before reading;
 * - one deadline covers connecting, the headers and the whole body;
 * - redirects are never followed, and each connection is closed after its answer
 *   (`connection: close`): otherwise undici pools it for as long as the host's `Keep-Alive`
 *   header asks (up to ten minutes), an idle socket for every host an attacker names.
 */
export function createOutboundFetch(policy: OutboundPolicy, resolver: Resolver): OutboundFetch {
  const protocols: FetchNode.ProtocolConfig = {}
  for (const p of policy.protocols) protocols[p] = { allowCustomPort: policy.allowCustomPort }
  const checkUrl = (url: URL) =>
    fetchNode().checkProtocolPolicy(url, protocols) ??
    (policy.allowNonPublicAddresses ? undefined : fetchNode().checkUnicastPolicy(url))
  let guardedFetch: ReturnType<typeof FetchNode.safeDispatchFetchWrap> | undefined
  // without protection, names resolve as the system does (hosts file included)
  const guarded = () =>
    (guardedFetch ??= fetchNode().safeDispatchFetchWrap({
      checkUrl,
      lookup: policy.allowNonPublicAddresses ? undefined : publicAddressLookup(resolver),
    }))

  return async (url, opts = {}) => {
    let target: URL
    try {
      target = new URL(url)
    } catch {
      throw new OutboundFetchError('refused', 'not a URL')
    }
    // the dispatcher checks again at connect time; this answers before anything is sent
    const reason = checkUrl(target)
    if (reason) throw new OutboundFetchError('refused', reason)
    const signal = AbortSignal.timeout(policy.timeoutMs)
    try {
      const res = await guarded()(target, {
        redirect: 'manual',
        signal,
        headers: { accept: opts.accept ?? '*/*', 'accept-encoding': 'identity', connection: 'close' },
      })
      const contentType = res.headers.get('content-type') ?? undefined
      if (res.status < 200 || res.status > 299) {
        void res.body?.cancel().catch(() => {})
        return { status: res.status, contentType, body: new Uint8Array(0) }
      }
      return { status: res.status, contentType, body: await readAtMost(res, policy.maxBodyBytes) }
    } catch (err) {
      throw failure(err, signal)
    }
  }
}
