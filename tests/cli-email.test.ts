// `carrel email test` through a real SMTP server on 127.0.0.1 (smtp-server), one that refuses,
// none at all; `carrel email tokens` lists what the server put in its outbox without mail.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { carrel } from './_cli.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { freePort } from './_server-process.ts'
import { startSmtp, type TestSmtp } from './_smtp.ts'
import { rawXrpc } from './_util.ts'

let net: TestNetwork
let smtp: TestSmtp

test.before(async () => {
  net = await startNetwork()
  smtp = await startSmtp()
})

test.after(async () => {
  await smtp.close()
  await net.close()
})

const mailEnv = (extra: Record<string, string> = {}) => ({
  PDS_DATA_DIRECTORY: net.dataDir,
  PDS_HOSTNAME: 'pds.example.test',
  PDS_EMAIL_SMTP_URL: smtp.url,
  PDS_EMAIL_FROM_ADDRESS: 'admin@pds.example.test',
  ...extra,
})

test('email test sends one message through PDS_EMAIL_SMTP_URL', async () => {
  const r = await carrel(['email', 'test', 'operator@mail.test', '--json'], mailEnv())
  assert.is(r.code, 0, r.stderr)
  assert.is(r.json().sent, true)
  assert.match(r.json().response, /^250/)
  const mail = smtp.mails.at(-1)!
  assert.equal(mail.to, ['operator@mail.test'])
  assert.match(mail.raw, /Subject: Test message from pds\.example\.test/)
})

test('email test: a refusing server, no server, no mail configured: exit 1 with what went wrong', async () => {
  const before = smtp.mails.length
  smtp.refused.add('operator@mail.test')
  try {
    const refused = await carrel(['email', 'test', 'operator@mail.test', '--json'], mailEnv())
    assert.is(refused.code, 1)
    assert.match(refused.json().message, /not delivered: .*550/)
  } finally {
    smtp.refused.delete('operator@mail.test')
  }
  const closedPort = await freePort()
  const down = await carrel(['email', 'test', 'operator@mail.test', '--json'], mailEnv({ PDS_EMAIL_SMTP_URL: `smtp://127.0.0.1:${closedPort}` }))
  assert.is(down.code, 1)
  assert.match(down.json().message, /not delivered/)
  const none = await carrel(['email', 'test', 'operator@mail.test', '--json'], { PDS_DATA_DIRECTORY: net.dataDir })
  assert.is(none.code, 1)
  assert.match(none.json().message, /no mail configured/)
  assert.is(smtp.mails.length, before)
})

test('email tokens lists a token the server put in its outbox, and that token works', async () => {
  const { agent, did, password } = await net.createAccount('tokenholder')
  await agent.com.atproto.server.requestAccountDelete()
  const r = await carrel(['email', 'tokens', '--json'], { PDS_DATA_DIRECTORY: net.dataDir })
  assert.is(r.code, 0, r.stderr)
  const mine = r.json().tokens.filter((t: { did: string }) => t.did === did)
  assert.is(mine.length, 1)
  assert.is(mine[0].to, 'tokenholder.test@mail.test')
  assert.is(mine[0].expired, false)
  const deleted = await rawXrpc(net.url, 'com.atproto.server.deleteAccount', { body: { did, password, token: mine[0].token } })
  assert.is(deleted.status, 200, JSON.stringify(deleted.body))
})

test.run()
