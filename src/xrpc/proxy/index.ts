import type { IncomingMessage, ServerResponse } from 'node:http'
import { InvalidRequestError, MethodNotImplementedError, ResponseType, UpstreamFailureError, XRPCError } from '@atproto/xrpc-server'
import { isPrivilegedMethod, isProtectedMethod } from '../../auth/service-methods.js'
import { ACCESS_SCOPE, APP_PASS_PRIVILEGED_SCOPE } from '../../auth/tokens.js'
import type { AccessOutput } from '../../auth/verifier.js'
import type { ServiceRef } from '../../config.js'
import type { AppContext } from '../../context.js'
import { xrpcMethodDef } from '../../lexicons.js'
import type { OutboundStream } from '../../identity/safe-fetch.js'
import { ServiceEndpointError } from '../../identity/service-endpoint.js'
import { noteCaller } from '../http-answer.js'
import type { ProxyStep } from '../types.js'
import { isJsonType, nonXrpcError, sendCall, streamAnswer } from './forward.js'
import { ReadAfterWrite } from './read-after-write.js'
import { configuredService, defaultService, parseProxyHeader, type NamedService } from './services.js'

const CREATE_REPORT = 'com.atproto.moderation.createReport'

/** Where a call goes: the service's DID (the token's audience), its endpoint, and how to reach it. */
export type ServiceTarget = { did: string; endpoint: string; send: OutboundStream }

/** A service the operator configured (PDS_BSKY_APP_VIEW_*...): its own URL, reached as a trusted host. */
export function configuredTarget(ctx: AppContext, ref: ServiceRef): ServiceTarget {
  return { did: ref.did, endpoint: ref.url, send: ctx.upstreams.configured }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * Finds a named service's endpoint: the operator's URL for a configured service, else the one
 * its DID document names. 400 InvalidRequest when the DID does not resolve or names no such
 * service, 502 UpstreamFailure when its host did not answer, 429 when too many are looked up.
 */
export async function locateService(ctx: AppContext, named: NamedService): Promise<ServiceTarget> {
  const configured = configuredService(named, ctx.cfg)
  if (configured) return configuredTarget(ctx, configured)
  try {
    return { did: named.did, endpoint: await ctx.serviceEndpoints.endpoint(named.did, named.serviceId), send: ctx.upstreams.named }
  } catch (err) {
    if (!(err instanceof ServiceEndpointError)) throw err
    if (err.kind === 'unavailable') throw new UpstreamFailureError(err.message)
    if (err.kind === 'busy') throw new XRPCError(ResponseType.RateLimitExceeded, 'Too many DID lookups in progress; try again shortly', 'RateLimitExceeded')
    throw new InvalidRequestError(err.kind === 'no-did' ? 'could not resolve proxy did' : 'could not resolve proxy did service url')
  }
}

/** A fresh service-auth token of the account for one call of `lxm` at the service `aud`. */
export async function serviceToken(ctx: AppContext, iss: string, aud: string, lxm: string): Promise<string> {
  return ctx.serviceTokens.token({ iss, aud, lxm }, ctx.repo.cachedSigningKey(iss) ?? (await ctx.repo.signingKey(iss)))
}

/**
 * Service proxying: calls this server does not answer itself, sent on to the service they
 * belong to with a fresh service-auth token of the caller (ES256K with the account's repo key;
 * iss, aud = the service's DID, a minute's exp, lxm = the method, jti), their query and body as
 * sent, streamed both ways, and the service's answer passed back (status, the headers that
 * matter, body; errors too). The service is the one `atproto-proxy: <did>#<service id>` names,
 * else the default for the method (services.ts). Only methods of a lexicon this server knows,
 * only for a session of this server (access token; a privileged one for chat), never the
 * account-management methods.
 */
export class XrpcProxy implements ProxyStep {
  private readAfterWrite: ReadAfterWrite

  constructor(private ctx: AppContext) {
    this.readAfterWrite = new ReadAfterWrite(ctx)
  }

  forwards(nsid: string, req: IncomingMessage): boolean {
    if (req.headers['atproto-proxy'] !== undefined) return true
    return this.ctx.lexicons.getDef(nsid) !== undefined && defaultService(nsid, this.ctx.cfg) !== undefined
  }

  async forward(nsid: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = this.ctx
    const def = xrpcMethodDef(ctx.lexicons, nsid)
    if (!def) {
      throw new InvalidRequestError(`${nsid} is not a query or procedure of any lexicon this server knows, and only those are forwarded`)
    }
    const header = headerValue(req.headers['atproto-proxy'])
    const named = header !== undefined ? parseProxyHeader(header) : undefined
    if (isProtectedMethod(nsid)) throw new InvalidRequestError('Bad token method', 'InvalidToken')
    const fallback = named ? undefined : defaultService(nsid, ctx.cfg)
    if (fallback && !fallback.ref) {
      throw new MethodNotImplementedError(`No ${fallback.what} is configured on this server (${fallback.variables}), so ${nsid} is not answered`)
    }
    // a taken-down account's narrow session may still appeal (createReport), nothing else
    const auth = nsid === CREATE_REPORT ? ctx.auth.accessStandardOrTakendown : ctx.auth.accessStandard
    const { credentials } = (await auth({ req, res })) as AccessOutput
    noteCaller(res, credentials.did)
    if (isPrivilegedMethod(nsid) && credentials.scope !== ACCESS_SCOPE && credentials.scope !== APP_PASS_PRIVILEGED_SCOPE) {
      throw new InvalidRequestError('Bad token method', 'InvalidToken')
    }
    const target = named ? await locateService(ctx, named) : configuredTarget(ctx, fallback!.ref!)
    const token = await serviceToken(ctx, credentials.did, target.did, nsid)

    const bodyLimit = def.type === 'procedure' && def.input?.encoding === 'application/json' ? ctx.cfg.jsonBodyLimit : ctx.cfg.blobUploadLimit
    // a client that leaves before its answer is complete cancels the call
    const cancelWhenGone = (cancel: () => void) => res.once('close', () => res.writableFinished || cancel())
    const answer = await sendCall({ send: target.send, endpoint: target.endpoint, req, nsid, token, bodyLimit }, cancelWhenGone)
    const readAfterWrite = this.readAfterWrite.applies(nsid)
    if (answer.status >= 400) {
      if (!isJsonType(answer.headers['content-type'])) throw nonXrpcError(answer)
      const uri = readAfterWrite ? new URL(req.url!, 'http://x').searchParams.get('uri') : null
      if (readAfterWrite && (await this.readAfterWrite.answerNotFound(nsid, credentials.did, uri, answer, res))) return
    } else if (answer.status === 200 && readAfterWrite) {
      if (await this.readAfterWrite.answer(nsid, credentials.did, answer, res)) return
    }
    await streamAnswer(answer, res)
  }
}
