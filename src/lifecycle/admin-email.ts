import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountStore } from '../accounts/account-store.js'
import type { Logger } from '../logger.js'
import type { AccountMail } from '../mail/account-mail.js'
import { adminMail } from '../mail/templates.js'
import { mailFailure } from './token-mail.js'

export type AdminEmailInput = { recipientDid: string; content: string; subject?: string; senderDid: string; comment?: string }

/**
 * com.atproto.admin.sendEmail: the administrator's message to an account's address, whatever the
 * account's status (as the reference). `sent` is true once the mail server took it; with no SMTP
 * configured the message goes to the outbox (`admin-message-<DID>.txt`, replacing an earlier
 * one) and `sent` is false, since nothing was sent. `comment` is for moderators' records, which
 * this server does not keep: it is neither sent nor stored nor logged.
 */
export class AdminEmail {
  constructor(private d: { accounts: AccountStore; mail: AccountMail; server: string; logger: Logger }) {}

  async send(input: AdminEmailInput): Promise<{ sent: boolean }> {
    const account = this.d.accounts.getByDid(input.recipientDid)
    if (!account) throw new InvalidRequestError('Recipient not found')
    if (!input.content.trim()) throw new InvalidRequestError('content must not be empty')
    const subject = input.subject?.trim() || `Message from the administrator of ${this.d.server}`
    let delivery
    try {
      delivery = await this.d.mail.sendAdminMessage(account, adminMail(subject, input.content))
    } catch (err) {
      throw mailFailure(err)
    }
    const sent = delivery.via === 'smtp'
    this.d.logger.info({ did: account.did, senderDid: input.senderDid, sent }, sent ? 'admin email sent' : 'admin email put in the outbox (no mail is configured)')
    return { sent }
  }
}
