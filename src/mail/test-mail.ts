import { SmtpMailer } from './smtp.js'
import { testMail } from './templates.js'

/** The mail settings of a Config (`PDS_EMAIL_SMTP_URL`, `PDS_EMAIL_FROM_ADDRESS`, `PDS_HOSTNAME`). */
export type MailSettings = { emailSmtpUrl: string | undefined; emailFromAddress: string | undefined; hostname: string }

export type TestMailResult =
  | { sent: true; messageId: string; /** the mail server's last answer, e.g. `250 2.0.0 Ok: queued as ...` */ response: string }
  | { sent: false; reason: 'not-configured' }

/**
 * `carrel email test <address>`: sends one test message with the server's mail settings, as the
 * server would send a token. Throws MailDeliveryError (its `message` says why, without secrets)
 * when the mail server cannot be reached or refuses; `{sent: false}` when no SMTP is configured
 * (tokens then go to the outbox: `listPendingTokens`).
 */
export async function sendTestMail(settings: MailSettings, to: string): Promise<TestMailResult> {
  if (!settings.emailSmtpUrl || !settings.emailFromAddress) return { sent: false, reason: 'not-configured' }
  const mailer = new SmtpMailer({ smtpUrl: settings.emailSmtpUrl, fromAddress: settings.emailFromAddress })
  try {
    const { messageId, response } = await mailer.send(to, testMail(settings.hostname))
    return { sent: true, messageId, response }
  } finally {
    mailer.close()
  }
}
