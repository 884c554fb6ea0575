// A port Carrel cannot listen on (another server has it: a second Carrel, the reference PDS on
// the same host, a container with host networking) refuses the start with a message on stderr
// that names the variable, exit code 1 and no stack trace, for each of its listeners: PDS_PORT,
// the embedded PLC directory's PDS_PLC_PORT and the metrics' PDS_METRICS_PORT. The data directory
// stays usable: the next start, on a free port, serves the account made before.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { startPlc, type Plc } from './_harness.ts'
import { freePort, refusedStart, startServerProcess, stopServerProcess } from './_server-process.ts'

let plc: Plc
let dataDir: string
/** listeners that hold ports, as another program would */
const blockers: Server[] = []

/** A port something else listens on: on every address (as Carrel's own port), or on 127.0.0.1. */
async function takenPort(host?: string): Promise<number> {
  const s = createServer()
  blockers.push(s)
  await new Promise<void>((resolve) => (host ? s.listen(0, host, resolve) : s.listen(0, resolve)))
  return (s.address() as { port: number }).port
}

test.before(async () => {
  plc = await startPlc()
  dataDir = mkdtempSync(join(tmpdir(), 'carrel-ports-'))
})

test.after(async () => {
  for (const s of blockers) await new Promise((r) => s.close(r))
  await plc.close()
  rmSync(dataDir, { recursive: true, force: true })
})

function assertRefused(r: { code: number | null; output: string }, variable: string, port: number) {
  assert.is(r.code, 1, `${variable}: exit code; output:\n${r.output}`)
  assert.ok(r.output.includes(`carrel: not starting: ${variable}: cannot listen on `), `${variable}: ${r.output}`)
  assert.ok(r.output.includes(String(port)), `${variable}: the port is named: ${r.output}`)
  assert.ok(r.output.includes('something else listens there'), r.output)
  assert.not.match(r.output, /\n\s+at /, `${variable}: a stack trace is printed`)
}

test('a taken PDS_PORT, PDS_PLC_PORT or PDS_METRICS_PORT: start-up refused, naming the variable', async () => {
  const httpPort = await takenPort()
  const plcPort = await takenPort('127.0.0.1')
  const metricsPort = await takenPort('127.0.0.1')
  const [http, embedded, metrics] = await Promise.all([
    refusedStart({ PDS_DATA_DIRECTORY: join(dataDir, 'a'), PDS_DID_PLC_URL: plc.url, PDS_PORT: String(httpPort) }),
    // embedded mode: no PDS_DID_PLC_URL
    refusedStart({ PDS_DATA_DIRECTORY: join(dataDir, 'b'), PDS_PLC_PORT: String(plcPort) }),
    refusedStart({ PDS_DATA_DIRECTORY: join(dataDir, 'c'), PDS_DID_PLC_URL: plc.url, PDS_METRICS_PORT: String(metricsPort) }),
  ])
  assertRefused(http, 'PDS_PORT', httpPort)
  assertRefused(embedded, 'PDS_PLC_PORT', plcPort)
  assertRefused(metrics, 'PDS_METRICS_PORT', metricsPort)
})

test('after a refused start the data directory serves as before', async () => {
  const dir = join(dataDir, 'kept')
  const env = { PDS_DATA_DIRECTORY: dir, PDS_DID_PLC_URL: plc.url }
  const port = await freePort()
  const first = await startServerProcess(port, env)
  let did: string
  try {
    const agent = new AtpAgent({ service: `http://localhost:${port}` })
    await agent.createAccount({ handle: 'ports.test', email: 'ports@mail.test', password: 'correct horse battery staple' })
    did = agent.session!.did
  } finally {
    await stopServerProcess(first)
  }
  const taken = await takenPort()
  assertRefused(await refusedStart({ ...env, PDS_PORT: String(taken) }), 'PDS_PORT', taken)
  const again = await startServerProcess(port, env)
  try {
    const agent = new AtpAgent({ service: `http://localhost:${port}` })
    await agent.login({ identifier: 'ports.test', password: 'correct horse battery staple' })
    assert.is(agent.session!.did, did)
  } finally {
    await stopServerProcess(again)
  }
})

test.run()
