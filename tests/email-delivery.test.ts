// Where account mail goes when it cannot be mailed: a mail server that is down (502
// UpstreamFailure, nothing stored, nothing in the outbox), and no SMTP configured (the outbox,
// read back with listPendingTokens, the function the CLI calls). Also sendTestMail (`carrel email
// test <address>`) against a real SMTP server on 127.0.0.1, and the start-up checks of the two
// mail variables.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, loadConfig } from '../src/config.ts'
import { listPendingTokens } from '../src/mail/pending-tokens.ts'
import { MailDeliveryError } from '../src/mail/smtp.ts'
import { sendTestMail } from '../src/mail/test-mail.ts'
import { ADMIN_AUTH } from './_admin.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { freePort } from './_server-process.ts'
import { startSmtp, tokenOf } from './_smtp.ts'
import { expectError, expectOk, outboxFiles, rawXrpc } from './_util.ts'


function tokenRows(net: TestNetwork, did: string): unknown[] {
  return net.pds.ctx.db.sqlite.prepare('SELECT * FROM account_token WHERE did = ? ORDER BY purpose').all(did)
}

test('a mail server that is down: 502 UpstreamFailure saying it could not be reached; no token stored, nothing in the outbox, the account unchanged', async () => {
  const port = await freePort()
  const net = await startNetwork({ PDS_EMAIL_SMTP_URL: `smtp://127.0.0.1:${port}`, PDS_EMAIL_FROM_ADDRESS: 'noreply@carrel.test' })
  try {
    const alice = await net.createAccount('smtpdown')
    const token = alice.agent.session!.accessJwt
    const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
    const account = net.pds.ctx.db.sqlite.prepare('SELECT * FROM account WHERE did = ?').get(alice.did)

    expectError(await call('com.atproto.server.requestPasswordReset', { body: { email: `${alice.handle}@mail.test` } }), 502, 'UpstreamFailure', /could not be reached/)
    expectError(await call('com.atproto.server.requestEmailConfirmation', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.server.requestAccountDelete', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.identity.requestPlcOperationSignature', { token, method: 'POST' }), 502, 'UpstreamFailure')
    expectError(await call('com.atproto.admin.sendEmail', { body: { recipientDid: alice.did, senderDid: alice.did, content: 'x' }, authorization: ADMIN_AUTH }), 502, 'UpstreamFailure')

    assert.equal(tokenRows(net, alice.did), [])
    assert.equal(outboxFiles(net.dataDir), [])
    assert.equal(net.pds.ctx.db.sqlite.prepare('SELECT * FROM account WHERE did = ?').get(alice.did), account)
    // requestEmailUpdate needs no mail while the address is unconfirmed: it still answers
    const update = await call('com.atproto.server.requestEmailUpdate', { token, method: 'POST' })
    expectOk(update)
    assert.equal(update.body, { tokenRequired: false })
  } finally {
    await net.close()
  }
})

test('no SMTP: tokens go to the outbox (0600), listPendingTokens lists them for the operator, and a used one leaves the list', async () => {
  const net = await startNetwork()
  try {
    const bob = await net.createAccount('outbox')
    const email = `${bob.handle}@mail.test`
    const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
    assert.equal(listPendingTokens(net.dataDir), [])

    expectOk(await call('com.atproto.server.requestPasswordReset', { body: { email } }))
    expectOk(await call('com.atproto.server.requestEmailConfirmation', { token: bob.agent.session!.accessJwt, method: 'POST' }))
    const pending = listPendingTokens(net.dataDir)
    assert.equal(
      pending.map((p) => [p.did, p.purpose, p.to, p.expired]).sort(),
      [
        [bob.did, 'confirm_email', email, false],
        [bob.did, 'reset_password', email, false],
      ],
    )
    for (const p of pending) {
      assert.match(p.token, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/)
      assert.is(statSync(p.file).mode & 0o777, 0o600)
      assert.ok(Date.parse(p.expiresAt) > Date.now())
    }
    const reset = pending.find((p) => p.purpose === 'reset_password')!
    assert.is(reset.subject, 'Reset your password')

    expectOk(await call('com.atproto.server.resetPassword', { body: { token: reset.token, password: 'from the outbox' } }))
    assert.equal(
      listPendingTokens(net.dataDir).map((p) => p.purpose),
      ['confirm_email'],
      'the used token left the outbox',
    )
    // listed as expired once it is, until it is found expired or replaced
    const later = Date.now() + 16 * 60 * 1000
    assert.equal(
      listPendingTokens(net.dataDir, later).map((p) => p.expired),
      [true],
    )

    // the admin's message: not sent, kept in the outbox
    const sent = await call('com.atproto.admin.sendEmail', { body: { recipientDid: bob.did, senderDid: bob.did, content: 'hello' }, authorization: ADMIN_AUTH })
    expectOk(sent)
    assert.equal(sent.body, { sent: false })
    assert.ok(outboxFiles(net.dataDir).includes(`admin-message-${bob.did.replace(/:/g, '_')}.txt`), outboxFiles(net.dataDir).join())
    assert.equal(
      listPendingTokens(net.dataDir).map((p) => p.purpose),
      ['confirm_email'],
      'a message without a token is not a pending token',
    )

    // the mail settings test says there is nothing to test
    assert.equal(await sendTestMail(net.pds.cfg, 'someone@mail.test'), { sent: false, reason: 'not-configured' })
  } finally {
    await net.close()
  }
})

test('sendTestMail: one message through the configured server; a refused recipient or a server that is down throw MailDeliveryError', async () => {
  const smtp = await startSmtp()
  try {
    const settings = { emailSmtpUrl: smtp.url, emailFromAddress: 'Carrel <noreply@carrel.test>', hostname: 'pds.example.com' }
    const result = await sendTestMail(settings, 'operator@mail.test')
    assert.is(result.sent, true)
    const mail = await smtp.take('operator@mail.test')
    assert.is(mail.subject, 'Test message from pds.example.com')
    assert.is(mail.from, 'noreply@carrel.test')
    assert.throws(() => tokenOf(mail), 'a test message carries no token')

    smtp.refused.add('refused@mail.test')
    const refused = await sendTestMail(settings, 'refused@mail.test').catch((err: unknown) => err)
    assert.instance(refused, MailDeliveryError)
    assert.is((refused as MailDeliveryError).refused, true)
    assert.match((refused as Error).message, /550/)

    const port = await freePort()
    const down = await sendTestMail({ ...settings, emailSmtpUrl: `smtp://127.0.0.1:${port}` }, 'operator@mail.test').catch((err: unknown) => err)
    assert.instance(down, MailDeliveryError)
    assert.is((down as MailDeliveryError).refused, false)
    assert.match((down as Error).message, /could not be reached/)
  } finally {
    await smtp.close()
  }
})

test('start-up refuses one mail variable without the other, and an SMTP URL that is not smtp:// or smtps://, before creating anything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'carrel-mail-config-'))
  try {
    const data = join(dir, 'data')
    const base = { PDS_DATA_DIRECTORY: data }
    const cases: [Record<string, string>, RegExp][] = [
      [{ PDS_EMAIL_SMTP_URL: 'smtp://127.0.0.1:25' }, /PDS_EMAIL_FROM_ADDRESS is not/],
      [{ PDS_EMAIL_FROM_ADDRESS: 'noreply@carrel.test' }, /PDS_EMAIL_SMTP_URL is not/],
      [{ PDS_EMAIL_SMTP_URL: 'https://user:secret-password@mail.example.com', PDS_EMAIL_FROM_ADDRESS: 'noreply@carrel.test' }, /not an smtp/],
    ]
    for (const [env, message] of cases) {
      const err = await loadConfig({ ...base, ...env }).catch((e: unknown) => e)
      assert.instance(err, ConfigError)
      assert.match((err as Error).message, message)
      assert.not.ok((err as Error).message.includes('secret-password'), 'the URL (and its password) is not printed')
      assert.not.ok(existsSync(data), 'nothing was created')
    }
    const cfg = await loadConfig({ ...base, PDS_EMAIL_SMTP_URL: 'smtps://user:pw@mail.example.com', PDS_EMAIL_FROM_ADDRESS: 'noreply@carrel.test' })
    assert.is(cfg.emailSmtpUrl, 'smtps://user:pw@mail.example.com')
    const none = await loadConfig({ ...base, PDS_EMAIL_SMTP_URL: '', PDS_EMAIL_FROM_ADDRESS: '' })
    assert.is(none.emailSmtpUrl, undefined, 'empty values (a reference pds.env without mail) mean no mail')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
