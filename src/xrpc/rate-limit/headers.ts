import type { ServerResponse } from 'node:http'
import { ResponseType, XRPCError } from '@atproto/xrpc-server'
import { RateLimitedError } from '../../auth/rate-limiter.js'
import type { LimitStatus } from './spec.js'

/**
 * The RateLimit-* headers, as the reference PDS sends them on answers and refusals alike:
 * limit, remaining, reset (epoch seconds) and policy (`<points>;w=<seconds>`).
 */
export function setRateLimitHeaders(res: ServerResponse, s: LimitStatus): void {
  if (res.headersSent) return
  res.setHeader('RateLimit-Limit', String(s.limit))
  res.setHeader('RateLimit-Remaining', String(s.remaining))
  res.setHeader('RateLimit-Reset', String(Math.floor(s.resetAt / 1000)))
  res.setHeader('RateLimit-Policy', `${s.limit};w=${Math.round(s.windowMs / 1000)}`)
}

/** The seconds a refused client should wait (Retry-After), at least 1. */
export function retryAfterSec(s: LimitStatus, now = Date.now()): number {
  return Math.max(1, Math.ceil((s.resetAt - now) / 1000))
}

export function refusalMessage(s: LimitStatus): string {
  return `Rate limit exceeded: ${s.limit} per ${Math.round(s.windowMs / 1000)} s; try again in ${retryAfterSec(s)} s`
}

/** 429 RateLimitExceeded from the rate-limit layer, with the limit that refused the call. */
export class RateLimitExceededError extends XRPCError {
  constructor(readonly status: LimitStatus) {
    super(ResponseType.RateLimitExceeded, refusalMessage(status), 'RateLimitExceeded')
  }
}

/**
 * Headers for a 429 thrown by a limiter outside the layer (failed logins, handle changes):
 * Retry-After, and the RateLimit-* headers when the error says which limit refused.
 */
export function answerRateLimited(res: ServerResponse, err: RateLimitedError): void {
  if (res.headersSent) return
  res.setHeader('Retry-After', String(err.retryAfterSec))
  if (err.status) setRateLimitHeaders(res, err.status)
}
