import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Config, ServiceRef } from '../../config.js'

/** A service named by an `atproto-proxy` header: `<did>#<service id>`. */
export type NamedService = { did: string; serviceId: string }

/** Where a method goes when the client names no service, and the variables that configure it. */
export type DefaultService = { serviceId: string; ref: ServiceRef | undefined; what: string; variables: string }

/**
 * The service a method goes to without an `atproto-proxy` header, as the reference routes
 * them: Bluesky's app methods to the AppView, its chat methods to the chat service, reports
 * to the moderation service. Other methods have no default.
 */
export function defaultService(nsid: string, cfg: Pick<Config, 'bskyAppView' | 'bskyChat' | 'reportService'>): DefaultService | undefined {
  if (nsid.startsWith('app.bsky.')) {
    return { serviceId: 'bsky_appview', ref: cfg.bskyAppView, what: 'Bluesky AppView', variables: 'PDS_BSKY_APP_VIEW_URL, PDS_BSKY_APP_VIEW_DID' }
  }
  if (nsid.startsWith('chat.bsky.')) {
    return { serviceId: 'bsky_chat', ref: cfg.bskyChat, what: 'Bluesky chat service', variables: 'PDS_BSKY_CHAT_URL, PDS_BSKY_CHAT_DID' }
  }
  if (nsid === 'com.atproto.moderation.createReport') {
    return { serviceId: 'atproto_labeler', ref: cfg.reportService, what: 'report service', variables: 'PDS_REPORT_SERVICE_URL, PDS_REPORT_SERVICE_DID' }
  }
  return undefined
}

/** The header's service, with the reference's messages for malformed values (400 InvalidRequest). */
export function parseProxyHeader(value: string): NamedService {
  const hash = value.indexOf('#')
  if (hash === 0) throw new InvalidRequestError('no did specified in proxy header')
  if (hash === -1 || hash === value.length - 1) throw new InvalidRequestError('no service id specified in proxy header')
  if (value.indexOf('#', hash + 1) !== -1) throw new InvalidRequestError('invalid proxy header format')
  if (/\s/.test(value)) throw new InvalidRequestError('proxy header cannot contain spaces')
  return { did: value.slice(0, hash), serviceId: value.slice(hash + 1) }
}

/**
 * The operator's own service the header names, when it is one of the configured ones
 * (`PDS_BSKY_APP_VIEW_DID#bsky_appview`...): the official app names the AppView in every call,
 * and the configured address is used rather than the one its DID document gives.
 */
export function configuredService(named: NamedService, cfg: Pick<Config, 'bskyAppView' | 'bskyChat' | 'reportService'>): ServiceRef | undefined {
  const pairs: [ServiceRef | undefined, string][] = [
    [cfg.bskyAppView, 'bsky_appview'],
    [cfg.bskyChat, 'bsky_chat'],
    [cfg.reportService, 'atproto_labeler'],
  ]
  for (const [ref, serviceId] of pairs) {
    if (ref && ref.did === named.did && serviceId === named.serviceId) return ref
  }
  return undefined
}
