// Several Carrel servers on one PLC directory (what a migration between two servers needs), each
// on port 0 with its own temporary data directory and its own service DID.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import { startPds, type Pds } from '../src/pds.ts'
import { ADMIN_PASSWORD } from './_admin.ts'
import type { Plc } from './_harness.ts'
import { outboxToken } from './_util.ts'

export type Server = { pds: Pds; url: string; dataDir: string; serviceDid: string; agent(): AtpAgent }

export async function startServer(plc: Plc, serviceDid: string, extraEnv: Record<string, string> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'carrel-test-'))
  const pds = await startPds({
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: '0',
    PDS_DATA_DIRECTORY: dataDir,
    PDS_DID_PLC_URL: plc.url,
    PDS_SERVICE_DID: serviceDid,
    PDS_JWT_SECRET: 'test-jwt-secret-' + Math.random().toString(36).slice(2),
    PDS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...extraEnv,
  })
  return { pds, url: pds.url, dataDir, serviceDid, agent: () => new AtpAgent({ service: pds.url }) }
}

export async function stopServer(server: Server | undefined): Promise<void> {
  if (!server) return
  await server.pds.close()
  rmSync(server.dataDir, { recursive: true, force: true })
}

/** The PLC operation token that requestPlcOperationSignature left in the server's outbox. */
export function plcTokenFromOutbox(server: Server, did: string): string {
  return outboxToken(server.dataDir, 'plc-operation', did)
}
