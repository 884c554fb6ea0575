// Test harness: a real PLC directory (@did-plc/server, in-memory) and a real Carrel server on
// port 0 with a temporary data directory. Clients in tests are real (@atproto/api, ws).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { AtpAgent } from '@atproto/api'
import * as plcServer from '@did-plc/server'
import { startPds, type Pds } from '../src/pds.ts'
import { ADMIN_PASSWORD } from './_admin.ts'

export type Plc = { url: string; close(): Promise<void> }

export async function startPlc(): Promise<Plc> {
  const server = plcServer.PlcServer.create({ db: plcServer.Database.mock(), port: 0 })
  const http = await server.start()
  const port = (http.address() as AddressInfo).port
  return {
    url: `http://localhost:${port}`,
    async close() {
      await server.destroy()
    },
  }
}

/** An account made by `createAccount`: a logged-in agent, its DID, handle and password. */
export type TestAccount = { agent: AtpAgent; did: string; handle: string; password: string }

export type TestNetwork = {
  plc: Plc
  pds: Pds
  url: string
  dataDir: string
  env: Record<string, string>
  /** stop the server (not PLC) and start it again on the same data directory */
  restart(): Promise<Pds>
  agent(): AtpAgent
  createAccount(name?: string): Promise<TestAccount>
  close(): Promise<void>
}

let counter = 0

export async function startNetwork(extraEnv: Record<string, string> = {}): Promise<TestNetwork> {
  const plc = await startPlc()
  const dataDir = mkdtempSync(join(tmpdir(), 'carrel-test-'))
  const env: Record<string, string> = {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: '0',
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_JWT_SECRET: 'test-jwt-secret-' + Math.random().toString(36).slice(2),
    PDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...extraEnv,
  }
  const net: TestNetwork = {
    plc,
    pds: await startPds(env),
    get url() {
      return net.pds.url
    },
    dataDir,
    env,
    async restart() {
      const port = String(net.pds.http.port)
      await net.pds.close()
      net.pds = await startPds({ ...env, PDS_PORT: port })
      return net.pds
    },
    agent() {
      return new AtpAgent({ service: net.pds.url })
    },
    async createAccount(name?: string) {
      const agent = net.agent()
      const handle = `${name ?? 'user' + ++counter}.test`
      const password = 'correct horse battery staple'
      const res = await agent.createAccount({ handle, email: `${handle}@mail.test`, password })
      return { agent, did: res.data.did, handle, password }
    },
    async close() {
      await net.pds.close()
      await plc.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return net
}
