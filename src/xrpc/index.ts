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
import updateHandle from './com/atproto/identity/updateHandle.js'
import resolveDid from './com/atproto/identity/resolveDid.js'
import resolveIdentity from './com/atproto/identity/resolveIdentity.js'
import refreshIdentity from './com/atproto/identity/refreshIdentity.js'
import getRecommendedDidCredentials from './com/atproto/identity/getRecommendedDidCredentials.js'
import requestPlcOperationSignature from './com/atproto/identity/requestPlcOperationSignature.js'
import signPlcOperation from './com/atproto/identity/signPlcOperation.js'
import submitPlcOperation from './com/atproto/identity/submitPlcOperation.js'
// com.atproto.server: the account lifecycle
import createAppPassword from './com/atproto/server/createAppPassword.js'
import listAppPasswords from './com/atproto/server/listAppPasswords.js'
import revokeAppPassword from './com/atproto/server/revokeAppPassword.js'
import deactivateAccount from './com/atproto/server/deactivateAccount.js'
import activateAccount from './com/atproto/server/activateAccount.js'
import checkAccountStatus from './com/atproto/server/checkAccountStatus.js'
import requestAccountDelete from './com/atproto/server/requestAccountDelete.js'
import deleteAccount from './com/atproto/server/deleteAccount.js'
// app.carrel.sync
import carrelSyncGetChanges from './app/carrel/sync/getChanges.js'
import carrelSyncHeartbeat from './app/carrel/sync/heartbeat.js'
import carrelSyncListDevices from './app/carrel/sync/listDevices.js'
import carrelSyncGetSettings from './app/carrel/sync/getSettings.js'
import carrelSyncPutSettings from './app/carrel/sync/putSettings.js'
// app.carrel.library
import librarySearchBooks from './app/carrel/library/searchBooks.js'
import libraryGetStats from './app/carrel/library/getStats.js'
// migration in and out
import getServiceAuth from './com/atproto/server/getServiceAuth.js'
import importRepo from './com/atproto/repo/importRepo.js'
// the admin API, invites
import adminGetAccountInfo from './com/atproto/admin/getAccountInfo.js'
import adminGetAccountInfos from './com/atproto/admin/getAccountInfos.js'
import adminGetSubjectStatus from './com/atproto/admin/getSubjectStatus.js'
import adminUpdateSubjectStatus from './com/atproto/admin/updateSubjectStatus.js'
import adminUpdateAccountHandle from './com/atproto/admin/updateAccountHandle.js'
import adminUpdateAccountEmail from './com/atproto/admin/updateAccountEmail.js'
import adminUpdateAccountPassword from './com/atproto/admin/updateAccountPassword.js'
import adminAccountInvites from './com/atproto/admin/accountInvites.js'
import adminDisableInviteCodes from './com/atproto/admin/disableInviteCodes.js'
import adminGetInviteCodes from './com/atproto/admin/getInviteCodes.js'
import adminDeleteAccount from './com/atproto/admin/deleteAccount.js'
import createInviteCodes from './com/atproto/server/createInviteCodes.js'
import getAccountInviteCodes from './com/atproto/server/getAccountInviteCodes.js'
// email
import requestEmailConfirmation from './com/atproto/server/requestEmailConfirmation.js'
import confirmEmail from './com/atproto/server/confirmEmail.js'
import requestEmailUpdate from './com/atproto/server/requestEmailUpdate.js'
import updateEmail from './com/atproto/server/updateEmail.js'
import requestPasswordReset from './com/atproto/server/requestPasswordReset.js'
import resetPassword from './com/atproto/server/resetPassword.js'
import adminSendEmail from './com/atproto/admin/sendEmail.js'
// rate limits: the layer's settings from the config
import { rateLimitOptions } from './rate-limit/options.js'
// app.carrel.update
import updateCreateDelta from './app/carrel/update/createDelta.js'
import updateCheckForUpdates from './app/carrel/update/checkForUpdates.js'
import updateGetInstallStatus from './app/carrel/update/getInstallStatus.js'
import updateGetAdoption from './app/carrel/update/getAdoption.js'
// app.bsky: preferences here, push registration and every other call forwarded (./proxy)
import bskyGetPreferences from './app/bsky/actor/getPreferences.js'
import bskyPutPreferences from './app/bsky/actor/putPreferences.js'
import bskyRegisterPush from './app/bsky/notification/registerPush.js'
import { XrpcProxy } from './proxy/index.js'

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
  updateHandle,
  resolveDid,
  resolveIdentity,
  refreshIdentity,
  getRecommendedDidCredentials,
  requestPlcOperationSignature,
  signPlcOperation,
  submitPlcOperation,
  createAppPassword,
  listAppPasswords,
  revokeAppPassword,
  deactivateAccount,
  activateAccount,
  checkAccountStatus,
  requestAccountDelete,
  deleteAccount,
  carrelSyncGetChanges,
  carrelSyncHeartbeat,
  carrelSyncListDevices,
  carrelSyncGetSettings,
  carrelSyncPutSettings,
  librarySearchBooks,
  libraryGetStats,
  getServiceAuth,
  importRepo,
  adminGetAccountInfo,
  adminGetAccountInfos,
  adminGetSubjectStatus,
  adminUpdateSubjectStatus,
  adminUpdateAccountHandle,
  adminUpdateAccountEmail,
  adminUpdateAccountPassword,
  adminAccountInvites,
  adminDisableInviteCodes,
  adminGetInviteCodes,
  adminDeleteAccount,
  createInviteCodes,
  getAccountInviteCodes,
  requestEmailConfirmation,
  confirmEmail,
  requestEmailUpdate,
  updateEmail,
  requestPasswordReset,
  resetPassword,
  adminSendEmail,
  updateCreateDelta,
  updateCheckForUpdates,
  updateGetInstallStatus,
  updateGetAdoption,
  bskyGetPreferences,
  bskyPutPreferences,
  bskyRegisterPush,
]

export function registerMethods(server: XrpcRouter, ctx: AppContext): void {
  for (const register of methods) register(server, ctx)
  server.rateLimits.configure(rateLimitOptions(ctx.cfg.rateLimits))
  server.proxy = new XrpcProxy(ctx)
}
