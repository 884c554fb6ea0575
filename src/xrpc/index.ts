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
// com.atproto.server, com.atproto.identity
import createAccount from './com/atproto/server/createAccount.js'
import createInviteCode from './com/atproto/server/createInviteCode.js'
import createSession from './com/atproto/server/createSession.js'
import deleteSession from './com/atproto/server/deleteSession.js'
import describeServer from './com/atproto/server/describeServer.js'
import getSession from './com/atproto/server/getSession.js'
import refreshSession from './com/atproto/server/refreshSession.js'
import resolveHandle from './com/atproto/identity/resolveHandle.js'

export type MethodRegistration = (server: Server, ctx: AppContext) => void

const methods: MethodRegistration[] = [
  applyWrites,
  createRecord,
  deleteRecord,
  describeRepo,
  getRecord,
  listRecords,
  putRecord,
  createAccount,
  createInviteCode,
  createSession,
  deleteSession,
  describeServer,
  getSession,
  refreshSession,
  resolveHandle,
]

export function registerMethods(server: Server, ctx: AppContext): void {
  for (const register of methods) register(server, ctx)
}
