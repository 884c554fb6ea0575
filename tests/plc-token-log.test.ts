// Where the operator finds a PLC operation token while no mail is configured: the server (started
// as `npm start` starts it, logging at info level) logs one line naming the account and the
// outbox file, never the token; the token is in that file.
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { startServerWithPlc, type ServerWithPlc } from './_server-process.ts'
import { outboxFile } from './_util.ts'

let net: ServerWithPlc

test.before(async () => {
  net = await startServerWithPlc('carrel-plc-token-', {
    PDS_JWT_SECRET: 'plc-token-log-jwt-secret',
    PDS_ADMIN_PASSWORD: 'plc-token-log-admin',
    LOG_LEVEL: 'info',
  })
})

test.after(async () => {
  await net?.stop()
})

test('one info line names the account and the outbox file; the token is in the file and in no log line', async () => {
  const agent = new AtpAgent({ service: net.url })
  await agent.createAccount({ handle: 'tokenlog.test', email: 'tokenlog@mail.test', password: 'correct horse battery staple' })
  const did = agent.session!.did
  await agent.com.atproto.identity.requestPlcOperationSignature()
  const file = outboxFile(net.dataDir, 'plc-operation', did)
  const token = /^Token: (\S+)$/m.exec(readFileSync(file, 'utf8'))?.[1]
  assert.ok(token, 'the token is in the outbox file')
  await agent.com.atproto.identity.signPlcOperation({ token })

  // the request log line of the last call is written when it finishes: wait for it
  const deadline = Date.now() + 5000
  while (!net.server.output().includes('com.atproto.identity.signPlcOperation') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
  }
  const lines = net.server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  const issued = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('PLC operation token issued'))
  assert.is(issued.length, 1)
  assert.is(issued[0]!.level, 30)
  assert.is(issued[0]!.did, did)
  assert.is(issued[0]!.file, file)
  for (const form of [token, token.toLowerCase(), token.replace('-', '')]) {
    assert.not.ok(net.server.output().includes(form), `the token appears in the output as ${form}`)
  }
})

test.run()
