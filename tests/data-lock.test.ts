// One process at a time on a data directory: a second server is refused while the first runs,
// and the lock of a process that died (kill -9) blocks nobody.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError } from '../src/config.ts'
import { lockDataDirectory } from '../src/db/data-lock.ts'
import { startPds } from '../src/pds.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc } from './_util.ts'

let net: TestNetwork
const LOCK_MODULE = join(import.meta.dirname, '..', 'src', 'db', 'data-lock.ts')

test.before(async () => {
  net = await startNetwork()
})

test.after(async () => {
  await net.close()
})

test('a second server on a data directory in use is refused with a ConfigError; the first goes on serving', async () => {
  const { agent } = await net.createAccount('first')
  let refused: unknown
  try {
    const second = await startPds(net.env)
    await second.close()
  } catch (err) {
    refused = err
  }
  assert.instance(refused, ConfigError)
  assert.match((refused as Error).message, /in use/)
  const post = await agent.com.atproto.repo.createRecord({
    repo: agent.session!.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'still here', createdAt: new Date().toISOString() },
  })
  assert.ok(post.data.uri)
})

test('while another process holds the directory the server does not start; the lock of a killed process blocks nothing', async () => {
  const port = net.pds.http.port
  await net.pds.close()
  // a process that takes the lock and waits (as an offline `carrel` command would hold it)
  const holder = spawn(
    process.execPath,
    ['--import', 'tsx', '-e', `import(${JSON.stringify(LOCK_MODULE)}).then((m) => { m.lockDataDirectory(${JSON.stringify(net.dataDir)}); console.log('locked'); setInterval(() => {}, 1000) })`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve()))
  let refused: unknown
  try {
    const pds = await startPds({ ...net.env, PDS_PORT: String(port) })
    await pds.close()
  } catch (err) {
    refused = err
  }
  assert.instance(refused, ConfigError)
  assert.throws(() => lockDataDirectory(net.dataDir), /in use/)

  holder.kill('SIGKILL')
  await new Promise((resolve) => holder.once('exit', resolve))
  await net.restart()
  assert.is((await rawXrpc(net.url, '_health')).status, 200)
})

test.run()
