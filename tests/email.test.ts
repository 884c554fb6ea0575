// Mail through a real SMTP server on 127.0.0.1 (tests/_smtp.ts): every token is read from the
// message the server received, as its recipient would read it. Email confirmation, password
// reset (the mail arrives, its token works once, the old password stops working, sessions end),
// email update, deletion and PLC tokens by mail, admin sendEmail with its auth cases, and a mail
// server that refuses the recipient: 502 UpstreamFailure and nothing of the account changed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ADMIN_AUTH, ADMIN_PASSWORD, basic } from './_admin.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { startSmtp, tokenOf, type TestSmtp } from './_smtp.ts'
import { expectError, expectOk, outboxFiles, type RawResponse, rawXrpc } from './_util.ts'

const FROM = 'Carrel <noreply@carrel.test>'

let smtp: TestSmtp
let net: TestNetwork

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const sqlite = () => net.pds.ctx.db.sqlite

type Account = Awaited<ReturnType<TestNetwork['createAccount']>> & { email: string }

async function createAccount(name: string): Promise<Account> {
  const account = await net.createAccount(name)
  return { ...account, email: `${account.handle}@mail.test` }
}

/** A fresh password session: [accessJwt, refreshJwt]. */
async function login(identifier: string, password: string): Promise<RawResponse> {
  return call('com.atproto.server.createSession', { body: { identifier, password } })
}

function tokenRows(did: string): unknown[] {
  return sqlite().prepare('SELECT purpose, token_hash, expires_at FROM account_token WHERE did = ? ORDER BY purpose').all(did)
}

function accountRow(did: string): Record<string, unknown> {
  return sqlite().prepare('SELECT * FROM account WHERE did = ?').get(did) as Record<string, unknown>
}

test.before(async () => {
  smtp = await startSmtp()
  net = await startNetwork({ PDS_EMAIL_SMTP_URL: smtp.url, PDS_EMAIL_FROM_ADDRESS: FROM })
})

test.after(async () => {
  await net.close()
  await smtp.close()
})

test('email confirmation: the mail comes from the configured address with the token in text and HTML; confirmEmail checks address and token, once', async () => {
  const alice = await createAccount('confirm')
  const token = alice.agent.session!.accessJwt
  assert.is((await call('com.atproto.server.getSession', { token })).body.emailConfirmed, false)

  expectOk(await call('com.atproto.server.requestEmailConfirmation', { token, method: 'POST' }))
  const mail = await smtp.take(alice.email)
  assert.is(mail.from, 'noreply@carrel.test')
  assert.match(mail.headers['from']!, /noreply@carrel\.test/)
  assert.is(mail.subject, 'Confirm your email address')
  assert.ok(mail.text.includes(alice.handle), mail.text)
  assert.match(mail.html, /^<!doctype html>/)
  const code = tokenOf(mail)
  assert.equal(outboxFiles(net.dataDir), [], 'a mailed token is not written to the outbox')

  // the address must be the account's; a wrong code is refused; neither uses the token up
  expectError(await call('com.atproto.server.confirmEmail', { token, body: { email: 'other@mail.test', token: code } }), 400, 'InvalidEmail')
  expectError(await call('com.atproto.server.confirmEmail', { token, body: { email: alice.email, token: 'AAAAA-BBBBB' } }), 400, 'InvalidToken')
  assert.is(accountRow(alice.did).email_confirmed_at, null)

  // the code of another account does not confirm this one
  const bob = await createAccount('confirmbob')
  expectOk(await call('com.atproto.server.requestEmailConfirmation', { token: bob.agent.session!.accessJwt, method: 'POST' }))
  const bobCode = tokenOf(await smtp.take(bob.email))
  expectError(await call('com.atproto.server.confirmEmail', { token, body: { email: alice.email, token: bobCode } }), 400, 'InvalidToken')

  expectOk(await call('com.atproto.server.confirmEmail', { token, body: { email: alice.email.toUpperCase(), token: code.toLowerCase() } }))
  const session = (await call('com.atproto.server.getSession', { token })).body
  assert.is(session.emailConfirmed, true)
  assert.is(session.emailAuthFactor, undefined, 'no sign-in code by mail is claimed')
  expectError(await call('com.atproto.server.confirmEmail', { token, body: { email: alice.email, token: code } }), 400, 'InvalidToken')
  assert.is((await login(alice.handle, alice.password)).body.emailConfirmed, true, 'createSession says so too')
  assert.is((await call('com.atproto.server.getSession', { token: bob.agent.session!.accessJwt })).body.emailConfirmed, false)

  // an expired code
  expectOk(await call('com.atproto.server.requestEmailConfirmation', { token: bob.agent.session!.accessJwt, method: 'POST' }))
  const late = tokenOf(await smtp.take(bob.email))
  sqlite().prepare("UPDATE account_token SET expires_at = ? WHERE did = ? AND purpose = 'confirm_email'").run(Date.now() - 1, bob.did)
  expectError(await call('com.atproto.server.confirmEmail', { token: bob.agent.session!.accessJwt, body: { email: bob.email, token: late } }), 400, 'ExpiredToken')
  assert.is(accountRow(bob.did).email_confirmed_at, null)
})

test('password reset: the mail arrives, its token works once, the old password stops working and every session ends, access tokens too', async () => {
  const carol = await createAccount('reset')
  const second = await login(carol.handle, carol.password)
  expectOk(second)
  const before = accountRow(carol.did)

  // an address no account has: the reference's answer, and no mail
  const mailsBefore = smtp.mails.length
  expectError(await call('com.atproto.server.requestPasswordReset', { body: { email: 'nobody@mail.test' } }), 400, 'InvalidRequest', /does not have an email/)
  assert.is(smtp.mails.length, mailsBefore)

  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: carol.email.toUpperCase() } }))
  const mail = await smtp.take(carol.email)
  assert.is(mail.subject, 'Reset your password')
  const code = tokenOf(mail)

  // refused attempts change nothing and do not use the token up
  expectError(await call('com.atproto.server.resetPassword', { body: { token: 'AAAAA-BBBBB', password: 'a new password 1' } }), 400, 'InvalidToken')
  expectError(await call('com.atproto.server.resetPassword', { body: { token: code, password: 'short' } }), 400, 'InvalidRequest')
  assert.equal(accountRow(carol.did), before)
  expectOk(await login(carol.handle, carol.password))

  const newPassword = 'a brand new passphrase'
  // the old sessions' access tokens were issued in an earlier second than the change
  await new Promise((r) => setTimeout(r, 1005 - (Date.now() % 1000)))
  expectOk(await call('com.atproto.server.getSession', { token: second.body.accessJwt }))
  expectOk(await call('com.atproto.server.resetPassword', { body: { token: code, password: newPassword } }))

  expectError(await login(carol.handle, carol.password), 401, 'AuthenticationRequired')
  const fresh = await login(carol.handle, newPassword)
  expectOk(fresh)
  // the old sessions' access tokens end with them (the reference lets them live until they expire);
  // the new session's works at once
  expectError(await call('com.atproto.server.getSession', { token: carol.agent.session!.accessJwt }), 400, 'ExpiredToken')
  expectError(await call('com.atproto.server.getSession', { token: second.body.accessJwt }), 400, 'ExpiredToken')
  expectOk(await call('com.atproto.server.getSession', { token: fresh.body.accessJwt }))
  // the sessions made with the old password: their refresh tokens are revoked
  expectError(await call('com.atproto.server.refreshSession', { token: carol.agent.session!.refreshJwt, method: 'POST' }), 400, 'ExpiredToken')
  expectError(await call('com.atproto.server.refreshSession', { token: second.body.refreshJwt, method: 'POST' }), 400, 'ExpiredToken')

  // once only
  expectError(await call('com.atproto.server.resetPassword', { body: { token: code, password: 'yet another passphrase' } }), 400, 'InvalidToken')
  expectOk(await login(carol.handle, newPassword))

  // once only, even for two requests at once: one wins, the other changes nothing
  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: carol.email } }))
  const raced = tokenOf(await smtp.take(carol.email))
  const racing = await Promise.all(
    ['racing password one', 'racing password two'].map((password) => call('com.atproto.server.resetPassword', { body: { token: raced, password } })),
  )
  assert.equal(racing.map((r) => r.status).sort(), [200, 400], JSON.stringify(racing.map((r) => r.body)))
  const winner = racing[0]!.status === 200 ? 'racing password one' : 'racing password two'
  const loser = winner === 'racing password one' ? 'racing password two' : 'racing password one'
  expectError(racing.find((r) => r.status === 400)!, 400, 'InvalidToken')
  expectOk(await login(carol.handle, winner))
  expectError(await login(carol.handle, loser), 401, 'AuthenticationRequired')

  // an expired token changes nothing
  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: carol.email } }))
  const late = tokenOf(await smtp.take(carol.email))
  sqlite().prepare("UPDATE account_token SET expires_at = ? WHERE did = ? AND purpose = 'reset_password'").run(Date.now() - 1, carol.did)
  expectError(await call('com.atproto.server.resetPassword', { body: { token: late, password: 'yet another passphrase' } }), 400, 'ExpiredToken')
  expectOk(await login(carol.handle, winner))
})

test('a newer password reset request replaces the earlier token', async () => {
  const dan = await createAccount('resettwice')
  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: dan.email } }))
  const first = tokenOf(await smtp.take(dan.email))
  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: dan.email } }))
  const second = tokenOf(await smtp.take(dan.email))
  assert.is.not(first, second)
  expectError(await call('com.atproto.server.resetPassword', { body: { token: first, password: 'a new password 22' } }), 400, 'InvalidToken')
  expectOk(await call('com.atproto.server.resetPassword', { body: { token: second, password: 'a new password 22' } }))
})

test('email update: no token while unconfirmed; once confirmed a token mailed to the current address, TokenRequired without it, an address in use refused, old tokens dropped', async () => {
  const erin = await createAccount('update')
  const other = await createAccount('updateother')
  const token = erin.agent.session!.accessJwt

  // unconfirmed: no token needed, no mail
  const mailsBefore = smtp.mails.length
  const first = await call('com.atproto.server.requestEmailUpdate', { token, method: 'POST' })
  expectOk(first)
  assert.equal(first.body, { tokenRequired: false })
  assert.is(smtp.mails.length, mailsBefore)
  expectError(await call('com.atproto.server.updateEmail', { token, body: { email: 'not an address' } }), 400, 'InvalidRequest')
  expectError(await call('com.atproto.server.updateEmail', { token, body: { email: other.email } }), 400, 'InvalidRequest', /already in use/)
  assert.is(accountRow(erin.did).email, erin.email)
  expectOk(await call('com.atproto.server.updateEmail', { token, body: { email: 'Erin.Second@mail.test' } }))
  let session = (await call('com.atproto.server.getSession', { token })).body
  assert.is(session.email, 'erin.second@mail.test')
  assert.is(session.emailConfirmed, false)

  // confirm the new address (the confirmation goes there)
  expectOk(await call('com.atproto.server.requestEmailConfirmation', { token, method: 'POST' }))
  const confirmCode = tokenOf(await smtp.take('erin.second@mail.test'))
  expectOk(await call('com.atproto.server.confirmEmail', { token, body: { email: 'erin.second@mail.test', token: confirmCode } }))

  // confirmed: a token is needed, mailed to the current address
  const second = await call('com.atproto.server.requestEmailUpdate', { token, method: 'POST' })
  assert.equal(second.body, { tokenRequired: true })
  const mail = await smtp.take('erin.second@mail.test')
  assert.is(mail.subject, 'Change of your email address')
  const code = tokenOf(mail)
  // a deletion token mailed to the current address, which the change must void
  expectOk(await call('com.atproto.server.requestAccountDelete', { token, method: 'POST' }))
  const deleteCode = tokenOf(await smtp.take('erin.second@mail.test'))

  const unchanged = accountRow(erin.did)
  expectError(await call('com.atproto.server.updateEmail', { token, body: { email: 'erin.third@mail.test' } }), 400, 'TokenRequired')
  expectError(await call('com.atproto.server.updateEmail', { token, body: { email: 'erin.third@mail.test', token: 'AAAAA-BBBBB' } }), 400, 'InvalidToken')
  expectError(await call('com.atproto.server.updateEmail', { token, body: { email: other.email, token: code } }), 400, 'InvalidRequest', /already in use/)
  assert.equal(accountRow(erin.did), unchanged, 'refused updates change nothing')

  // an app password's session may not change the address
  const appPassword = await erin.agent.com.atproto.server.createAppPassword({ name: 'phone' })
  const appSession = await login(erin.handle, appPassword.data.password)
  expectError(await call('com.atproto.server.requestEmailUpdate', { token: appSession.body.accessJwt, method: 'POST' }), 400, 'InvalidToken')
  expectError(await call('com.atproto.server.updateEmail', { token: appSession.body.accessJwt, body: { email: 'erin.third@mail.test', token: code } }), 400, 'InvalidToken')

  expectOk(await call('com.atproto.server.updateEmail', { token, body: { email: 'erin.third@mail.test', token: code } }))
  session = (await call('com.atproto.server.getSession', { token })).body
  assert.is(session.email, 'erin.third@mail.test')
  assert.is(session.emailConfirmed, false, 'a new address starts unconfirmed')
  assert.equal(tokenRows(erin.did), [], 'tokens mailed to the old address are gone')
  expectError(
    await call('com.atproto.server.deleteAccount', { body: { did: erin.did, password: erin.password, token: deleteCode } }),
    400,
    'InvalidToken',
  )
})

test('account deletion and PLC operation tokens arrive by mail, and work', async () => {
  const fay = await createAccount('bymail')
  await fay.agent.com.atproto.identity.requestPlcOperationSignature()
  const plcMail = await smtp.take(fay.email)
  assert.match(plcMail.subject, /PLC operation/)
  const signed = await fay.agent.com.atproto.identity.signPlcOperation({ token: tokenOf(plcMail) })
  assert.ok(signed.data.operation)

  await fay.agent.com.atproto.server.requestAccountDelete()
  const deleteMail = await smtp.take(fay.email)
  assert.is(deleteMail.subject, 'Account deletion requested')
  assert.equal(outboxFiles(net.dataDir), [])
  expectOk(await call('com.atproto.server.deleteAccount', { body: { did: fay.did, password: fay.password, token: tokenOf(deleteMail) } }))
  assert.is(accountRow(fay.did), undefined)
})

test('admin sendEmail: admin Basic auth only; the message reaches the account address as written', async () => {
  const gus = await createAccount('adminmail')
  const body = { recipientDid: gus.did, senderDid: 'did:example:moderator', subject: 'About your account', content: 'Hello <there>.\n\nSecond paragraph.', comment: 'internal note' }
  const mailsBefore = smtp.mails.length
  expectError(await call('com.atproto.admin.sendEmail', { body }), 401, 'AuthMissing')
  expectError(await call('com.atproto.admin.sendEmail', { body, authorization: basic('admin', 'wrong-password-for-tests') }), 401, 'AuthenticationRequired')
  expectError(await call('com.atproto.admin.sendEmail', { body, authorization: basic('gus', ADMIN_PASSWORD) }), 401, 'AuthenticationRequired')
  expectError(await call('com.atproto.admin.sendEmail', { body, token: gus.agent.session!.accessJwt }), 401, 'AuthMissing')
  expectError(await call('com.atproto.admin.sendEmail', { body: { ...body, recipientDid: 'did:plc:nobodyhere2222222222222' }, authorization: ADMIN_AUTH }), 400, 'InvalidRequest', /Recipient not found/)
  assert.is(smtp.mails.length, mailsBefore, 'nothing was sent')

  const res = await call('com.atproto.admin.sendEmail', { body, authorization: ADMIN_AUTH })
  expectOk(res)
  assert.equal(res.body, { sent: true })
  const mail = await smtp.take(gus.email)
  assert.is(mail.subject, 'About your account')
  assert.ok(mail.text.includes('Hello <there>.\n\nSecond paragraph.'), mail.text)
  assert.ok(mail.html.includes('Hello &lt;there&gt;.'), mail.html)
  assert.not.ok(mail.raw.includes('internal note'), 'the comment is not sent')

  // a subject cannot smuggle in headers (another recipient)
  expectOk(await call('com.atproto.admin.sendEmail', { body: { ...body, subject: 'Hi\r\nBcc: victim@mail.test' }, authorization: ADMIN_AUTH }))
  const smuggled = await smtp.take(gus.email)
  assert.equal(smuggled.to, [gus.email])
  assert.is(smuggled.headers['bcc'], undefined)
  assert.ok(smtp.mails.every((m) => !m.to.includes('victim@mail.test')))

  // no subject: a default one naming the server
  expectOk(await call('com.atproto.admin.sendEmail', { body: { recipientDid: gus.did, senderDid: body.senderDid, content: 'hi' }, authorization: ADMIN_AUTH }))
  assert.match((await smtp.take(gus.email)).subject, /administrator of localhost/)
})

test('a taken-down account: no email confirmation or change (AccountTakedown, nothing mailed); the admin still reaches it', async () => {
  const ivy = await createAccount('takendown')
  const token = ivy.agent.session!.accessJwt
  net.pds.ctx.accounts.setTakedown(ivy.did, 'test-takedown')
  try {
    const mailsBefore = smtp.mails.length
    expectError(await call('com.atproto.server.requestEmailConfirmation', { token, method: 'POST' }), 401, 'AccountTakedown')
    expectError(await call('com.atproto.server.requestEmailUpdate', { token, method: 'POST' }), 401, 'AccountTakedown')
    expectError(await call('com.atproto.server.updateEmail', { token, body: { email: 'ivy.elsewhere@mail.test' } }), 401, 'AccountTakedown')
    assert.is(smtp.mails.length, mailsBefore)
    assert.is(accountRow(ivy.did).email, ivy.email)
    assert.equal(tokenRows(ivy.did), [])
    expectOk(await call('com.atproto.admin.sendEmail', { body: { recipientDid: ivy.did, senderDid: ivy.did, content: 'about the takedown' }, authorization: ADMIN_AUTH }))
    assert.ok((await smtp.take(ivy.email)).text.includes('about the takedown'))
  } finally {
    net.pds.ctx.accounts.setTakedown(ivy.did, null)
  }
})

test('a mail server refusing the recipient: 502 UpstreamFailure, no token stored, the earlier token still works, nothing else changed', async () => {
  const hal = await createAccount('refused')
  const token = hal.agent.session!.accessJwt
  expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email: hal.email } }))
  const earlier = tokenOf(await smtp.take(hal.email))
  const rows = tokenRows(hal.did)
  const account = accountRow(hal.did)

  smtp.refused.add(hal.email)
  try {
    expectError(await call('com.atproto.server.requestPasswordReset', { body: { email: hal.email } }), 502, 'UpstreamFailure', /refused/)
    expectError(await call('com.atproto.server.requestEmailConfirmation', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.server.requestAccountDelete', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.identity.requestPlcOperationSignature', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.admin.sendEmail', { body: { recipientDid: hal.did, senderDid: hal.did, content: 'x' }, authorization: ADMIN_AUTH }), 502, 'UpstreamFailure')
    assert.equal(tokenRows(hal.did), rows, 'no token was stored for an undelivered message')
    assert.equal(accountRow(hal.did), account)
    assert.equal(outboxFiles(net.dataDir), [], 'nothing went to the outbox instead')
  } finally {
    smtp.refused.delete(hal.email)
  }
  expectOk(await call('com.atproto.server.resetPassword', { body: { token: earlier, password: 'after the refusal' } }))
  expectOk(await login(hal.handle, 'after the refusal'))
})

test.run()
