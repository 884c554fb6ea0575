import type { Lexicons } from '@atproto/lexicon'
import { AccountStore } from './auth/account-store.js'
import type { Config } from './config.js'
import { migrateToLatest, openDatabase, type Db } from './db/index.js'
import { Sequencer } from './firehose/sequencer.js'
import { createLexicons } from './lexicons.js'
import { createLogger, type Logger } from './logger.js'
import { RepoService } from './repo/service.js'

/** The stores and services that XRPC handlers receive. Built once at start-up. */
export type AppContext = {
  cfg: Config
  db: Db
  logger: Logger
  lexicons: Lexicons
  accounts: AccountStore
  sequencer: Sequencer
  repo: RepoService
  /** closes services in reverse order of creation */
  close(): Promise<void>
}

export async function createContext(cfg: Config): Promise<AppContext> {
  const logger = createLogger(cfg.logLevel)
  const db = openDatabase(cfg.dbPath)
  await migrateToLatest(db)
  const lexicons = createLexicons()
  const accounts = new AccountStore(db)
  const sequencer = new Sequencer(db)
  const repo = new RepoService({ db, sequencer, accounts, lexicons })
  return {
    cfg,
    db,
    logger,
    lexicons,
    accounts,
    sequencer,
    repo,
    async close() {
      await db.close()
    },
  }
}
