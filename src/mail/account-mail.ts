import type { AccountTokenPurpose } from '../auth/account-tokens.js'
import type { Logger } from '../logger.js'
import { Outbox } from './outbox.js'
import type { SmtpMailer } from './smtp.js'
import { tokenMail, type MailContent } from './templates.js'

/** Where a message went: the mail server took it, or (no SMTP configured) the outbox file. */
export type Delivery = { via: 'smtp' } | { via: 'outbox'; file: string }

/** The account a message is for. */
export type Recipient = { did: string; handle: string; email: string }

/** Outbox file names per token purpose (`<kind>-<DID>.txt`); the first two predate mail. */
const OUTBOX_KIND: Record<AccountTokenPurpose, string> = {
  plc_operation: 'plc-operation',
  delete_account: 'account-delete',
  reset_password: 'password-reset',
  confirm_email: 'email-confirm',
  update_email: 'email-update',
}

/** The outbox kind of an administrator's message (com.atproto.admin.sendEmail). */
const ADMIN_MESSAGE_KIND = 'admin-message'

/** How log lines name a token (never the token itself). */
const TOKEN_LABEL: Record<AccountTokenPurpose, string> = {
  plc_operation: 'PLC operation token',
  delete_account: 'account deletion token',
  reset_password: 'password reset token',
  confirm_email: 'email confirmation token',
  update_email: 'email update token',
}

/**
 * Messages to account holders: by SMTP when `PDS_EMAIL_SMTP_URL` is set, else into the outbox
 * for the operator to pass on (an info log line names the file, never the token). A message the
 * mail server did not take throws MailDeliveryError, and nothing is written to the outbox: the
 * caller decides what that means (a token is then never stored).
 */
export class AccountMail {
  readonly outbox: Outbox

  constructor(
    private d: {
      /** undefined: no SMTP configured */
      smtp: SmtpMailer | undefined
      dataDirectory: string
      /** this server's host name, named in every message */
      server: string
      logger: Logger
    },
  ) {
    this.outbox = new Outbox(d.dataDirectory)
  }

  /** The message carrying `token` for `purpose` to the account's address. */
  async sendToken(purpose: AccountTokenPurpose, to: Recipient, minted: { token: string; expiresAt: number }): Promise<Delivery> {
    const content = tokenMail(purpose, { server: this.d.server, handle: to.handle, token: minted.token, expiresAt: new Date(minted.expiresAt) })
    const label = TOKEN_LABEL[purpose]
    const delivery = await this.deliver(OUTBOX_KIND[purpose], to, content, {
      Account: to.did,
      Purpose: purpose,
      Token: minted.token,
      Expires: new Date(minted.expiresAt).toISOString(),
    })
    if (delivery.via === 'outbox') {
      this.d.logger.info({ did: to.did, file: delivery.file }, `${label} issued; no mail is configured, so it is in the outbox for the operator to pass on`)
    } else {
      // a copy from before SMTP was configured holds a token this one replaces
      this.outbox.remove(OUTBOX_KIND[purpose], to.did)
      this.d.logger.info({ did: to.did }, `${label} issued and mailed`)
    }
    return delivery
  }

  /** A message the administrator wrote (com.atproto.admin.sendEmail). */
  async sendAdminMessage(to: Recipient, content: MailContent): Promise<Delivery> {
    return this.deliver(ADMIN_MESSAGE_KIND, to, content, { Account: to.did })
  }

  /** The outbox copy of a token's message, once the token has served (used, expired). */
  tokenUsed(purpose: AccountTokenPurpose, did: string): void {
    this.outbox.remove(OUTBOX_KIND[purpose], did)
  }

  /**
   * The outbox copies of every token message of an account whose tokens were all withdrawn
   * (taken down, address changed by the admin); the administrator's messages stay.
   */
  tokensWithdrawn(did: string): void {
    for (const kind of Object.values(OUTBOX_KIND)) this.outbox.remove(kind, did)
  }

  /** Every outbox message for an account that is gone. */
  accountGone(did: string): void {
    this.outbox.removeAll(did)
  }

  private async deliver(kind: string, to: Recipient, content: MailContent, headers: Record<string, string>): Promise<Delivery> {
    if (this.d.smtp) {
      try {
        await this.d.smtp.send(to.email, content)
      } catch (err) {
        this.d.logger.warn({ did: to.did, kind, reason: (err as Error).message }, 'mail not delivered')
        throw err
      }
      return { via: 'smtp' }
    }
    const file = this.outbox.put(kind, to.did, { to: to.email, subject: content.subject, headers, body: content.text.trimEnd() })
    return { via: 'outbox', file }
  }
}
