import { existsSync } from 'node:fs'
import { dataPaths, loadConfig, type Config } from '../config.js'
import { createContext, type AppContext } from '../context.js'
import { DataDirectoryInUseError, DataLockError, lockDataDirectory, type DataLock } from '../db/data-lock.js'
import { startEmbeddedPlc, type EmbeddedPlc } from '../identity/embedded-plc.js'
import { CliError, EXIT } from './exit-codes.js'

type Env = Record<string, string | undefined>

/** A data directory this process holds (the lock a server takes at start): no server runs on it meanwhile. */
export type TakenDataDirectory = { dataDirectory: string; dbPath: string; release(): void }

/**
 * Takes the data directory of `env` (PDS_DATA_DIRECTORY) for an offline command. Refuses (exit
 * code 4) when it has no database (a typo must not create an empty one) or when a server, or
 * another offline command, holds it.
 */
export function takeDataDirectory(env: Env): TakenDataDirectory {
  const { dataDirectory, dbPath } = dataPaths(env)
  if (!existsSync(dbPath)) {
    throw new CliError(`no Carrel database at ${dbPath} (set PDS_DATA_DIRECTORY or --data-dir)`, EXIT.unavailable)
  }
  let lock: DataLock
  try {
    lock = lockDataDirectory(dataDirectory)
  } catch (err) {
    if (err instanceof DataDirectoryInUseError) {
      throw new CliError(`${err.message}: stop the server to work on its data directory, or let this command use the server's admin API (without --data-dir)`, EXIT.unavailable)
    }
    if (err instanceof DataLockError) throw new CliError(err.message, EXIT.failed)
    throw err
  }
  return { dataDirectory, dbPath, release: () => lock.release() }
}

/** The server's stores and services on a data directory taken by this process, as a server would build them. */
export type OfflineServer = {
  cfg: Config
  ctx: AppContext
  /** in embedded mode, starts the PLC directory (kept in the database) that DID operations need */
  ensurePlc(): Promise<void>
  close(): Promise<void>
}

export async function openOffline(env: Env): Promise<OfflineServer> {
  const taken = takeDataDirectory(env)
  let ctx: AppContext
  let cfg: Config
  try {
    // the server's own loader; its logs would mix with the command's output
    cfg = await loadConfig({ ...env, LOG_LEVEL: 'silent' })
    ctx = await createContext(cfg)
  } catch (err) {
    taken.release()
    throw err
  }
  let plc: EmbeddedPlc | undefined
  return {
    cfg,
    ctx,
    async ensurePlc() {
      if (cfg.plcUrl || plc) return
      plc = await startEmbeddedPlc(ctx.db, 0)
      ctx.identity.setPlcUrl(plc.url)
    },
    async close() {
      await plc?.close()
      await ctx.close()
      taken.release()
    },
  }
}
