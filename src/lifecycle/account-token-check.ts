import { InvalidRequestError } from '@atproto/xrpc-server'
import type { TokenCheck } from '../auth/account-tokens.js'

/** A token check that failed, as the reference answers it: InvalidToken or ExpiredToken. */
export function assertTokenValid(check: TokenCheck): void {
  if (check === 'invalid') throw new InvalidRequestError('Token is invalid', 'InvalidToken')
  if (check === 'expired') throw new InvalidRequestError('Token is expired', 'ExpiredToken')
}
