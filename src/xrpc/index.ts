import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../context.js'
// com.atproto.repo
import applyWrites from './com/atproto/repo/applyWrites.js'
import createRecord from './com/atproto/repo/createRecord.js'
import deleteRecord from './com/atproto/repo/deleteRecord.js'
import describeRepo from './com/atproto/repo/describeRepo.js'
import getRecord from './com/atproto/repo/getRecord.js'
import listRecords from './com/atproto/repo/listRecords.js'
import putRecord from './com/atproto/repo/putRecord.js'
// com.atproto.sync
import getLatestCommit from './com/atproto/sync/getLatestCommit.js'
import getRepo from './com/atproto/sync/getRepo.js'

export type MethodRegistration = (server: Server, ctx: AppContext) => void

const methods: MethodRegistration[] = [
  applyWrites,
  createRecord,
  deleteRecord,
  describeRepo,
  getRecord,
  listRecords,
  putRecord,
  getLatestCommit,
  getRepo,
]

export function registerMethods(server: Server, ctx: AppContext): void {
  for (const register of methods) register(server, ctx)
}
