import { cidForCbor, check } from '@atproto/common'
import type * as plc from '@did-plc/lib'
import type { PlcDatabase } from '@did-plc/server'
import { CID } from 'multiformats/cid'
import type { Db } from '../db/index.js'
import { plcLib } from './plc-lib.js'

type OpRow = { did: string; cid: string; operation: string; nullified: number; created_at: string }

/** Read by @did-plc/server's error handler: `{status, message}` becomes the HTTP answer. */
class PlcStoreError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * The embedded PLC directory's operation log, in our SQLite `plc_operation` table, so DIDs
 * survive restarts. Implements @did-plc/server's PlcDatabase with the same semantics as its
 * Postgres implementation: validate with `assureValidNextOp`, insert, nullify forked-out ops,
 * and refuse (409) when another op for the DID landed in between.
 */
export class SqlitePlcStore implements PlcDatabase {
  private opsStmt
  private allOpsStmt
  private lastStmt
  private insertStmt
  private nullifyStmt
  private exportStmt
  private exportAfterStmt
  /** per-DID queue: validation is async, the insert is not */
  private locks = new Map<string, Promise<void>>()

  constructor(private db: Db) {
    const s = db.sqlite
    this.opsStmt = s.prepare<[string], OpRow>(
      'SELECT * FROM plc_operation WHERE did = ? AND nullified = 0 ORDER BY created_at, rowid',
    )
    this.allOpsStmt = s.prepare<[string], OpRow>(
      'SELECT * FROM plc_operation WHERE did = ? ORDER BY created_at, rowid',
    )
    this.lastStmt = s.prepare<[string], OpRow>(
      'SELECT * FROM plc_operation WHERE did = ? AND nullified = 0 ORDER BY created_at DESC, rowid DESC LIMIT 1',
    )
    this.insertStmt = s.prepare<[string, string, string, string]>(
      'INSERT INTO plc_operation (did, cid, operation, nullified, created_at) VALUES (?, ?, ?, 0, ?)',
    )
    this.nullifyStmt = s.prepare<[string, string]>('UPDATE plc_operation SET nullified = 1 WHERE did = ? AND cid = ?')
    this.exportStmt = s.prepare<[number], OpRow>('SELECT * FROM plc_operation ORDER BY created_at, rowid LIMIT ?')
    this.exportAfterStmt = s.prepare<[string, number], OpRow>(
      'SELECT * FROM plc_operation WHERE created_at > ? ORDER BY created_at, rowid LIMIT ?',
    )
  }

  async close(): Promise<void> {
    // the database belongs to the application context, which closes it
  }

  async healthCheck(): Promise<void> {
    this.db.sqlite.prepare('SELECT 1').get()
  }

  async validateAndAddOp(did: string, proposed: plc.OpOrTombstone): Promise<void> {
    const previous = this.locks.get(did) ?? Promise.resolve()
    const run = previous.then(() => this.addOp(did, proposed))
    const settled = run.then(
      () => undefined,
      () => undefined,
    )
    this.locks.set(did, settled)
    try {
      await run
    } finally {
      if (this.locks.get(did) === settled) this.locks.delete(did)
    }
  }

  private async addOp(did: string, proposed: plc.OpOrTombstone): Promise<void> {
    const ops = await this.indexedOpsForDid(did)
    // throws a PlcError (answered as 400) when the op is not a valid next op
    const { nullified } = await plcLib().assureValidNextOp(did, ops, proposed)
    const cid = (await cidForCbor(proposed)).toString()
    const headBefore = ops.at(-1)?.cid.toString() ?? null
    this.db.sqlite
      .transaction(() => {
        const head = this.lastStmt.get(did)?.cid ?? null
        if (head !== headBefore) {
          throw new PlcStoreError(409, 'Proposed prev does not match the most recent operation')
        }
        try {
          this.insertStmt.run(did, cid, JSON.stringify(proposed), new Date().toISOString())
        } catch (err) {
          if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
            throw new PlcStoreError(409, 'Operation already submitted')
          }
          throw err
        }
        for (const n of nullified) this.nullifyStmt.run(did, n.toString())
      })
      .immediate()
  }

  async opsForDid(did: string): Promise<plc.CompatibleOpOrTombstone[]> {
    const ops = await this.indexedOpsForDid(did)
    return ops.map((op) =>
      check.is(op.operation, plcLib().def.createOpV1) ? plcLib().normalizeOp(op.operation) : op.operation,
    )
  }

  async indexedOpsForDid(did: string, includeNull = false): Promise<plc.IndexedOperation[]> {
    const rows = includeNull ? this.allOpsStmt.all(did) : this.opsStmt.all(did)
    return rows.map(toIndexed)
  }

  async lastOpForDid(did: string): Promise<plc.CompatibleOpOrTombstone | null> {
    const row = this.lastStmt.get(did)
    return row ? (JSON.parse(row.operation) as plc.CompatibleOpOrTombstone) : null
  }

  async exportOps(count: number, after?: Date): Promise<plc.ExportedOp[]> {
    const rows = after ? this.exportAfterStmt.all(after.toISOString(), count) : this.exportStmt.all(count)
    return rows.map((row) => ({
      did: row.did,
      operation: JSON.parse(row.operation),
      cid: row.cid,
      nullified: row.nullified === 1,
      createdAt: row.created_at,
    }))
  }
}

function toIndexed(row: OpRow): plc.IndexedOperation {
  return {
    did: row.did,
    operation: JSON.parse(row.operation) as plc.CompatibleOpOrTombstone,
    cid: CID.parse(row.cid) as unknown as plc.IndexedOperation['cid'],
    nullified: row.nullified === 1,
    createdAt: new Date(row.created_at),
  }
}
