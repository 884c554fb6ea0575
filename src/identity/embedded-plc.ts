import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type * as PlcServer from '@did-plc/server'
import type { Db } from '../db/index.js'
import { SqlitePlcStore } from './plc-store.js'

export type EmbeddedPlc = { url: string; port: number; close(): Promise<void> }

/**
 * A PLC directory beside the server (embedded mode: no PDS_DID_PLC_URL), serving the
 * standard PLC HTTP API on 127.0.0.1 from our own SQLite database.
 */
export async function startEmbeddedPlc(db: Db, port: number): Promise<EmbeddedPlc> {
  // loaded only in embedded mode: the PLC server and its dependencies cost ~60 MB of memory.
  // Required rather than imported: through the ES module loader Node first scans its 3 MB of
  // CommonJS for export names, which doubled its load time (~380 ms against ~160 ms).
  const plcServer = createRequire(import.meta.url)('@did-plc/server') as typeof PlcServer
  const server = plcServer.PlcServer.create({ db: new SqlitePlcStore(db), port })
  const http = createServer(server.app)
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, '127.0.0.1', () => {
      http.off('error', reject)
      resolve()
    })
  })
  const actualPort = (http.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
      })
    },
  }
}
