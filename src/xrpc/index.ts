import type { AppContext } from '../context.js'
import type { XrpcRouter } from './router.js'
// com.atproto.repo
import applyWrites from './com/atproto/repo/applyWrites.js'
import createRecord from './com/atproto/repo/createRecord.js'
import deleteRecord from './com/atproto/repo/deleteRecord.js'
import describeRepo from './com/atproto/repo/describeRepo.js'
import getRecord from './com/atproto/repo/getRecord.js'
import listRecords from './com/atproto/repo/listRecords.js'
import putRecord from './com/atproto/repo/putRecord.js'
import uploadBlob from './com/atproto/repo/uploadBlob.js'
import listMissingBlobs from './com/atproto/repo/listMissingBlobs.js'
// com.atproto.sync
import syncGetBlob from './com/atproto/sync/getBlob.js'
import syncGetBlocks from './com/atproto/sync/getBlocks.js'
import syncGetLatestCommit from './com/atproto/sync/getLatestCommit.js'
import syncGetRecord from './com/atproto/sync/getRecord.js'
import syncGetRepo from './com/atproto/sync/getRepo.js'
import syncGetRepoStatus from './com/atproto/sync/getRepoStatus.js'
import syncListBlobs from './com/atproto/sync/listBlobs.js'
import syncListRepos from './com/atproto/sync/listRepos.js'
// com.atproto.server, com.atproto.identity
import createAccount from './com/atproto/server/createAccount.js'
import createInviteCode from './com/atproto/server/createInviteCode.js'
import createSession from './com/atproto/server/createSession.js'
import deleteSession from './com/atproto/server/deleteSession.js'
import describeServer from './com/atproto/server/describeServer.js'
import getSession from './com/atproto/server/getSession.js'
import refreshSession from './com/atproto/server/refreshSession.js'
import resolveHandle from './com/atproto/identity/resolveHandle.js'
// app.carrel.library
import librarySearchBooks from './app/carrel/library/searchBooks.js'
import libraryGetStats from './app/carrel/library/getStats.js'

export type MethodRegistration = (server: XrpcRouter, ctx: AppContext) => void

const methods: MethodRegistration[] = [
  applyWrites,
  createRecord,
  deleteRecord,
  describeRepo,
  getRecord,
  listRecords,
  putRecord,
  uploadBlob,
  listMissingBlobs,
  syncGetBlob,
  syncGetBlocks,
  syncGetLatestCommit,
  syncGetRecord,
  syncGetRepo,
  syncGetRepoStatus,
  syncListBlobs,
  syncListRepos,
  createAccount,
  createInviteCode,
  createSession,
  deleteSession,
  describeServer,
  getSession,
  refreshSession,
  resolveHandle,
  librarySearchBooks,
  libraryGetStats,
]

export function registerMethods(server: XrpcRouter, ctx: AppContext): void {
  for (const register of methods) register(server, ctx)
}
