// Where the operator finds a PLC operation token while no mail is configured: the server (started
// as `npm start` starts it, logging at info level) logs one line naming the account and the
// outbox file, never the token; the token is in that file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from './_server-process.ts'
import { outboxFile } from './_util.ts'

let plc: Plc
let dataDir: string
let server: ServerProcess
let url: string

test.before(async () => {
  plc = await startPlc()
  dataDir = mkdtempSync(join(tmpdir(), 'carrel-plc-token-'))
  const port = await freePort()
  url = `http://localhost:${port}`
  server = await startServerProcess(
    port,
    {
      PDS_DATA_DIRECTORY: dataDir,
      PDS_DID_PLC_URL: plc.url,
      PDS_JWT_SECRET: 'plc-token-log-jwt-secret',
      PDS_ADMIN_PASSWORD: 'plc-token-log-admin',
      LOG_LEVEL: 'info',
    },
    { capture: true },
  )
})

test.after(async () => {
  await stopServerProcess(server)
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
})

test('one info line names the account and the outbox file; the token is in the file and in no log line', async () => {
  const agent = new AtpAgent({ service: url })
  await agent.createAccount({ handle: 'tokenlog.test', email: 'tokenlog@mail.test', password: 'correct horse battery staple' })
  const did = agent.session!.did
  await agent.com.atproto.identity.requestPlcOperationSignature()
  const file = outboxFile(dataDir, 'plc-operation', did)
  const token = /^Token: (\S+)$/m.exec(readFileSync(file, 'utf8'))?.[1]
  assert.ok(token, 'the token is in the outbox file')
  await agent.com.atproto.identity.signPlcOperation({ token })

  // the request log line of the last call is written when it finishes: wait for it
  const deadline = Date.now() + 5000
  while (!server.output().includes('com.atproto.identity.signPlcOperation') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
  }
  const lines = server
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
    assert.not.ok(server.output().includes(form), `the token appears in the output as ${form}`)
  }
})

test.run()
