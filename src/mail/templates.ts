import type { AccountTokenPurpose } from '../auth/account-tokens.js'

/** A message as it is sent: the plain text and a simple HTML version of the same words. */
export type MailContent = { subject: string; text: string; html: string }

/** What every token message names. */
export type TokenMailFacts = {
  /** this server's host name, so that the holder knows where the message comes from */
  server: string
  handle: string
  token: string
  expiresAt: Date
}

type Paragraphs = { subject: string; intro: string[]; token?: string; outro: string[] }

/**
 * One template per purpose, in plain words. A template is a few paragraphs; `render` makes the
 * text and the HTML from the same paragraphs, so they never say different things.
 */
const TOKEN_TEMPLATES: Record<AccountTokenPurpose, (f: TokenMailFacts) => Paragraphs> = {
  confirm_email: (f) => ({
    subject: 'Confirm your email address',
    intro: [`To confirm this address for your account ${f.handle} on ${f.server}, enter this code in your app:`],
    token: f.token,
    outro: [expiry(f), 'If you did not ask for this, you can ignore this message.'],
  }),
  update_email: (f) => ({
    subject: 'Change of your email address',
    intro: [`A change of the email address of your account ${f.handle} on ${f.server} was requested. To make it, enter this code in your app:`],
    token: f.token,
    outro: [expiry(f), 'If you did not ask for this, ignore this message and change your password.'],
  }),
  reset_password: (f) => ({
    subject: 'Reset your password',
    intro: [`A new password was requested for your account ${f.handle} on ${f.server}. To choose it, enter this code in your app:`],
    token: f.token,
    outro: [expiry(f), 'Once the password is changed, every device signed in with the old one is signed out.', 'If you did not ask for this, you can ignore this message: your password stays as it is.'],
  }),
  delete_account: (f) => ({
    subject: 'Account deletion requested',
    intro: [`The deletion of your account ${f.handle} on ${f.server} was requested. To delete it, enter this code together with your password:`],
    token: f.token,
    outro: [expiry(f), 'A deleted account cannot be restored.', 'If you did not ask for this, ignore this message and change your password.'],
  }),
  plc_operation: (f) => ({
    subject: 'Change of your identity (PLC operation) requested',
    intro: [`A change of the DID document of your account ${f.handle} on ${f.server} was requested (for example to move the account to another server). To allow it, enter this code:`],
    token: f.token,
    outro: [expiry(f), 'If you did not ask for this, ignore this message and change your password.'],
  }),
}

function expiry(f: TokenMailFacts): string {
  return `The code works once, until ${f.expiresAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}.`
}

/** The message carrying a token for `purpose`. */
export function tokenMail(purpose: AccountTokenPurpose, facts: TokenMailFacts): MailContent {
  return render(TOKEN_TEMPLATES[purpose](facts))
}

/** A message the server's administrator writes (com.atproto.admin.sendEmail): their text as it is. */
export function adminMail(subject: string, content: string): MailContent {
  return render({ subject, intro: content.split(/\r?\n\s*\r?\n/), outro: [] })
}

/** A message that only shows the mail settings work (`email test <address>`). */
export function testMail(server: string): MailContent {
  return render({
    subject: `Test message from ${server}`,
    intro: [`This message was sent by the Carrel server ${server} to check its mail settings.`, 'If you can read it, account holders will get their codes by mail.'],
    outro: [],
  })
}

function render(p: Paragraphs): MailContent {
  const paragraphs = [...p.intro, ...(p.token ? [p.token] : []), ...p.outro]
  const text = paragraphs.map((para) => (para === p.token ? `    ${para}` : para)).join('\n\n') + '\n'
  const html = [
    '<!doctype html>',
    '<html><body style="font-family: sans-serif; line-height: 1.5">',
    ...p.intro.map((para) => `<p>${escapeHtml(para).replace(/\r?\n/g, '<br>')}</p>`),
    ...(p.token ? [`<p style="font-family: monospace; font-size: 1.5em; letter-spacing: 0.1em"><strong>${escapeHtml(p.token)}</strong></p>`] : []),
    ...p.outro.map((para) => `<p>${escapeHtml(para)}</p>`),
    '</body></html>',
  ].join('\n')
  return { subject: p.subject, text, html }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}
