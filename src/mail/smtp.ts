import { createRequire } from 'node:module'
import type * as Nodemailer from 'nodemailer'
import type { Mail } from 'nodemailer'
import type { SMTPSentMessageInfo, SMTPTransportOptions } from 'nodemailer/lib/smtp-transport'
import type { MailContent } from './templates.js'

// loaded when a server with SMTP sends its first message, not at every start
let nodemailerModule: typeof Nodemailer | undefined
function nodemailer(): typeof Nodemailer {
  nodemailerModule ??= createRequire(import.meta.url)('nodemailer') as typeof Nodemailer
  return nodemailerModule
}

/**
 * A message the mail server did not take: it could not be reached, or it refused the sender,
 * the recipient or the message. `reason` is for the log and the operator (an SMTP code and
 * nodemailer's error code, never the message or the server's credentials).
 */
export class MailDeliveryError extends Error {
  constructor(
    readonly reason: string,
    readonly refused: boolean,
  ) {
    super(`mail not delivered: ${reason}`)
  }
}

/** How long to wait for the mail server, so that a request never hangs on it for minutes. */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }

/**
 * Sends through the SMTP server of `PDS_EMAIL_SMTP_URL` (`smtp://` or `smtps://`, with
 * credentials in the URL as the reference PDS takes them), from `PDS_EMAIL_FROM_ADDRESS`. One
 * connection per message: mail here is a few messages an hour, and a connection kept open
 * would only go stale.
 */
export class SmtpMailer {
  private transport: Mail<SMTPSentMessageInfo, SMTPTransportOptions> | undefined

  constructor(private opts: { smtpUrl: string; fromAddress: string }) {}

  /** Resolves once the mail server accepted the message for every recipient. */
  async send(to: string, content: MailContent): Promise<{ messageId: string; response: string }> {
    this.transport ??= nodemailer().createTransport({ url: this.opts.smtpUrl, ...TIMEOUTS })
    let info
    try {
      info = await this.transport.sendMail({ from: this.opts.fromAddress, to, subject: content.subject, text: content.text, html: content.html })
    } catch (err) {
      throw deliveryError(err)
    }
    if (info.rejected.length > 0) throw new MailDeliveryError('the mail server refused the recipient', true)
    return { messageId: String(info.messageId), response: String(info.response) }
  }

  close(): void {
    this.transport?.close()
    this.transport = undefined
  }
}

function deliveryError(err: unknown): MailDeliveryError {
  const e = err as { code?: string; responseCode?: number; command?: string }
  if (typeof e.responseCode === 'number') {
    const what = e.command ? ` to ${e.command.split(' ')[0]}` : ''
    return new MailDeliveryError(`the mail server answered ${e.responseCode}${what} (${e.code ?? 'refused'})`, true)
  }
  return new MailDeliveryError(`the mail server could not be reached (${e.code ?? 'error'})`, false)
}
