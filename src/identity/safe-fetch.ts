import dns, { type LookupAddress } from 'node:dns'
import { Resolver } from 'node:dns/promises'
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import https from 'node:https'
import { createRequire } from 'node:module'
import type { LookupFunction } from 'node:net'
import { type Readable, Transform, type TransformCallback } from 'node:stream'
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

/** What an outbound request may reach (both kinds below). */
export type OutboundReach = {
  protocols: readonly ('http:' | 'https:')[]
  /** false: only the protocol's own port (443 for https, 80 for http) */
  allowCustomPort: boolean
  /** false (SSRF protection): refuse every address that is not public unicast */
  allowNonPublicAddresses: boolean
}

/** What an outbound fetch may reach and read; see `createOutboundFetch`. */
export type OutboundPolicy = OutboundReach & {
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
  // the same rules as the streamed requests (outboundUrlProblem), also at every connection
  const checkUrl = (url: URL) => outboundUrlProblem(url, policy)
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

/** What a streamed outbound request may reach, and how long and large its answer may be. */
export type OutboundStreamPolicy = OutboundReach & {
  /** the answer's status and headers must arrive within this time */
  headersTimeoutMs: number
  /** the answer's body may stop arriving for at most this long */
  bodyTimeoutMs: number
  /** largest body passed on, in bytes as sent (a larger declared length is refused before reading) */
  maxBodyBytes: number
}

export type OutboundStreamRequest = {
  url: URL
  method: 'GET' | 'HEAD' | 'POST'
  headers: OutgoingHttpHeaders
  /** streamed to the host as it arrives; its errors end the request */
  body?: Readable
  /**
   * Given the function that cancels the request (and the answer's body), for the caller to call
   * once neither is wanted any more. Not an AbortSignal: http.request's `signal` costs an
   * AbortController and end-of-stream listeners on every call (about 20 us of a proxied call's CPU).
   */
  cancelWith?: (cancel: () => void) => void
}

/**
 * An answer whose body has not been read: it streams as it arrives, as sent (never decompressed),
 * and fails with an OutboundFetchError (`too-large`, `timeout`) past the policy's bounds.
 */
export type OutboundStreamResponse = { status: number; headers: IncomingHttpHeaders; body: Readable }

export type OutboundStream = {
  (req: OutboundStreamRequest): Promise<OutboundStreamResponse>
  /** closes the pooled connections */
  close(): void
}

/** Why the policy forbids the URL before anything is resolved or sent (undefined: allowed so far). */
function outboundUrlProblem(url: URL, policy: OutboundReach): string | undefined {
  if (!(policy.protocols as readonly string[]).includes(url.protocol)) return `protocol ${url.protocol} is not allowed`
  // URL leaves the port empty when it is the protocol's own
  if (!policy.allowCustomPort && url.port !== '') return `port ${url.port} is not allowed`
  if (url.username || url.password) return 'credentials in the URL are not allowed'
  if (!policy.allowNonPublicAddresses) {
    // a literal address is connected to without a lookup, so it is judged here
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    if (ipaddr.isValid(host) && !isPublicAddress(host)) return `${host} is not a public address`
  }
  return undefined
}

/** Counts a stream's bytes as they pass and fails it with `error()` past `max` bytes. */
export class ByteLimit extends Transform {
  private size = 0
  exceeded = false

  constructor(
    private readonly max: number,
    readonly error: () => Error,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length
    if (this.size > this.max) {
      this.exceeded = true
      return done(this.error())
    }
    done(null, chunk)
  }
}

/** idle pooled connections are closed after this long (below the 5 s most servers keep them) */
const IDLE_SOCKET_MS = 4_000

/**
 * A streamed request (service proxying): the request body is sent as it arrives and the answer
 * is handed back as soon as its headers are in, its body unread, so neither is ever held whole.
 * The same rules as `createOutboundFetch` decide what may be reached: the URL's protocol and port
 * by the policy, a literal address before anything happens, every other address by the checked
 * `lookup` that the connection then uses (so the checked address is the one connected to, with
 * no second lookup). Redirects are answers like any other (never followed). On Node's own HTTP
 * client, with keep-alive connections (idle ones closed after a few seconds): proxied calls
 * are many and small, and a new TCP and TLS handshake for each would double their latency.
 */
export function createOutboundStream(policy: OutboundStreamPolicy, resolver: Resolver): OutboundStream {
  const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS, maxFreeSockets: 32, scheduling: 'lifo' as const }
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) }
  // without protection, names resolve as the system does (hosts file included)
  const lookup = policy.allowNonPublicAddresses ? undefined : publicAddressLookup(resolver)

  const send = (req: OutboundStreamRequest): Promise<OutboundStreamResponse> =>
    new Promise((resolve, reject) => {
      const problem = outboundUrlProblem(req.url, policy)
      if (problem) return reject(new OutboundFetchError('refused', problem))
      const https_ = req.url.protocol === 'https:'
      const { hostname } = req.url
      const out = (https_ ? https : http).request({
        protocol: req.url.protocol,
        hostname: hostname.startsWith('[') ? hostname.slice(1, -1) : hostname,
        port: req.url.port || undefined,
        path: req.url.pathname + req.url.search,
        method: req.method,
        headers: req.headers,
        agent: agents[https_ ? 'https:' : 'http:'],
        lookup,
      })
      req.cancelWith?.(() => out.destroy(new OutboundFetchError('failed', 'the call was cancelled')))
      let answered = false
      // the wait for an answer starts once the request is sent whole (a client's slow upload
      // is not the host's slowness); until then a connection that stays idle is given up on
      let headersTimer: NodeJS.Timeout | undefined
      out.once('finish', () => {
        if (answered) return
        headersTimer = setTimeout(
          () => out.destroy(new OutboundFetchError('timeout', `no answer within ${policy.headersTimeoutMs} ms`)),
          policy.headersTimeoutMs,
        )
      })
      out.setTimeout(policy.bodyTimeoutMs, () => {
        if (!answered) out.destroy(new OutboundFetchError('timeout', `the connection was idle for ${policy.bodyTimeoutMs} ms`))
      })
      out.on('error', (err) => {
        clearTimeout(headersTimer)
        if (!answered) reject(outboundFailure(err))
      })
      out.on('response', (res) => {
        answered = true
        clearTimeout(headersTimer)
        const declared = Number(res.headers['content-length'] ?? 0)
        if (declared > policy.maxBodyBytes) {
          res.destroy()
          return reject(new OutboundFetchError('too-large', `Content-Length ${declared} is over ${policy.maxBodyBytes} bytes`))
        }
        res.setTimeout(policy.bodyTimeoutMs, () =>
          res.destroy(new OutboundFetchError('timeout', `the body stopped arriving for ${policy.bodyTimeoutMs} ms`)),
        )
        // a declared length is all the HTTP parser passes on; only a chunked body is counted
        const body = res.headers['content-length'] !== undefined ? res : limitedBody(res, policy.maxBodyBytes)
        // whoever reads the body sees its errors; one that comes before a reader is attached
        // must not be an uncaught 'error' event
        body.on('error', () => {})
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body })
      })
      if (req.body) {
        // not pipeline(): a failed request must leave the body's source (a client's request,
        // still to be answered) as it is; pipe() only unpipes when the request fails
        req.body.on('error', () => out.destroy(new OutboundFetchError('failed', 'the request body was cut off')))
        req.body.pipe(out)
      } else {
        out.end()
      }
    })

  return Object.assign(send, {
    close() {
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  })
}

/** The answer's body counted as it is read, failing past `max` bytes; closing it releases the answer. */
function limitedBody(res: http.IncomingMessage, max: number): Readable {
  const limit = new ByteLimit(max, () => new OutboundFetchError('too-large', `body is over ${max} bytes`))
  res.on('error', (err) => limit.destroy(err))
  limit.on('close', () => {
    if (!res.complete) res.destroy()
  })
  return res.pipe(limit)
}

function outboundFailure(err: unknown): OutboundFetchError {
  if (err instanceof OutboundFetchError) return err
  if (err instanceof AddressRefusedError) return new OutboundFetchError('refused', err.message)
  const code = (err as { code?: string })?.code
  return new OutboundFetchError('failed', code ?? (err as Error)?.message ?? 'request failed')
}
