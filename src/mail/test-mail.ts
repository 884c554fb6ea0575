import { createRequire } from 'node:module'
import type * as Nodemailer from 'nodemailer'

// A stand-in until the mail room lands (its `sendTestMail` has this signature): one message
// through PDS_EMAIL_SMTP_URL with nodemailer, loaded only when a message is sent.

/** The mail settings of the server (`PDS_EMAIL_SMTP_URL`, `PDS_EMAIL_FROM_ADDRESS`, `PDS_HOSTNAME`). */
export type MailSettings = { emailSmtpUrl: string | undefined; emailFromAddress: string | undefined; hostname: string }

export type TestMailResult =
  | { sent: true; messageId: string; /** the mail server's last answer, e.g. `250 2.0.0 Ok: queued as ...` */ response: string }
  | { sent: false; reason: 'not-configured' }

/** The mail server could not be reached or refused the message; the message never holds credentials. */
export class MailDeliveryError extends Error {}

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }

/** `carrel email test <address>`: one test message with the server's mail settings. */
export async function sendTestMail(settings: MailSettings, to: string): Promise<TestMailResult> {
  if (!settings.emailSmtpUrl || !settings.emailFromAddress) return { sent: false, reason: 'not-configured' }
  const nodemailer = createRequire(import.meta.url)('nodemailer') as typeof Nodemailer
  const transport = nodemailer.createTransport({ url: settings.emailSmtpUrl, ...TIMEOUTS })
  try {
    const info = await transport.sendMail({
      from: settings.emailFromAddress,
      to,
      subject: `Test message from ${settings.hostname}`,
      text: `This message was sent by the Carrel server ${settings.hostname} to check its mail settings.\n`,
    })
    return { sent: true, messageId: info.messageId, response: info.response }
  } catch (err) {
    // the SMTP code and nodemailer's error: never the message or the URL (its credentials)
    const e = err as { code?: string; responseCode?: number; command?: string; message?: string }
    const detail = e.responseCode === undefined && e.message ? `: ${e.message.replace(/\S+@\S+/g, '<address>').slice(0, 200)}` : ''
    const reason = ([e.responseCode, e.code, e.command].filter((x) => x !== undefined).join(' ') || 'unknown error') + detail
    throw new MailDeliveryError(`mail not delivered: ${reason}`)
  } finally {
    transport.close()
  }
}
