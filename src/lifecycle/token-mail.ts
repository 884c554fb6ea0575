import { InvalidRequestError, UpstreamFailureError } from '@atproto/xrpc-server'
import { AccountTokenStore, type AccountTokenPurpose } from '../auth/account-tokens.js'
import type { AccountMail, Delivery, Recipient } from '../mail/account-mail.js'
import { MailDeliveryError } from '../mail/smtp.js'
import { assertTokenValid } from './account-token-check.js'

/**
 * Issues an account token by mail (or the outbox): the token is made, its message delivered,
 * and only then stored, replacing the account's earlier one for that purpose. A message the
 * mail server did not take leaves the account as it was: no new token is stored, and the
 * earlier one, if any, keeps working; the caller gets 502 UpstreamFailure.
 */
export class TokenMail {
  constructor(private d: { tokens: AccountTokenStore; mail: AccountMail }) {}

  async issue(account: Recipient, purpose: AccountTokenPurpose): Promise<Delivery> {
    const minted = AccountTokenStore.mint()
    let delivery: Delivery
    try {
      delivery = await this.d.mail.sendToken(purpose, account, minted)
    } catch (err) {
      throw mailFailure(err)
    }
    this.d.tokens.save(account.did, purpose, minted)
    return delivery
  }

  /**
   * Throws InvalidToken or ExpiredToken unless `token` is the account's live one for `purpose`
   * (consumes nothing); an expired token's message leaves the outbox.
   */
  assertValid(did: string, purpose: AccountTokenPurpose, token: string): void {
    const check = this.d.tokens.check(did, purpose, token)
    if (check === 'expired') this.used(purpose, did)
    assertTokenValid(check)
  }

  /**
   * `assertValid` for a token presented without its account (a password reset's): the DID of
   * the account whose live token it is.
   */
  assertFound(purpose: AccountTokenPurpose, token: string): string {
    const found = this.d.tokens.findDid(purpose, token)
    if (found?.check === 'expired') this.used(purpose, found.did)
    assertTokenValid(found?.check ?? 'invalid')
    return found!.did
  }

  /**
   * Uses the token up (inside the transaction that acts on it, where there is one), or throws
   * InvalidToken when it is no longer there (a second request with the same token at once).
   */
  useUp(did: string, purpose: AccountTokenPurpose, token: string): void {
    if (!this.d.tokens.consume(did, purpose, token)) throw new InvalidRequestError('Token is invalid', 'InvalidToken')
  }

  /** Every token message of the account leaves the outbox (all its tokens were withdrawn). */
  allWithdrawn(did: string): void {
    this.d.mail.tokensWithdrawn(did)
  }

  /** The token's message leaves the outbox (it was used, or found expired). */
  used(purpose: AccountTokenPurpose, did: string): void {
    this.d.mail.tokenUsed(purpose, did)
  }
}

/**
 * A message the mail server did not take, as an XRPC error: 502 UpstreamFailure (the reference
 * PDS lets nodemailer's error through as 500 InternalServerError; a client can tell this one
 * apart and try again later). Other errors pass unchanged.
 */
export function mailFailure(err: unknown): unknown {
  if (!(err instanceof MailDeliveryError)) return err
  const what = err.refused ? 'The mail server refused the message' : 'The mail server could not be reached'
  return new UpstreamFailureError(`${what}; nothing was changed. Try again later, or ask the server's operator.`, 'UpstreamFailure')
}
