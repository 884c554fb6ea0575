/*
 * Which XRPC methods a service-auth token may name (`lxm`), as the reference PDS decides it: the
 * account-management methods below must be called on the account's own server with its own
 * session, never with a token made for another service (nor, once proxying exists, forwarded);
 * the privileged ones need a session of the account's password or a privileged app password.
 * NSIDs compare case-insensitively, as the reference compares them.
 */

const PROTECTED = new Set(
  [
    'com.atproto.admin.sendEmail',
    'com.atproto.identity.requestPlcOperationSignature',
    'com.atproto.identity.signPlcOperation',
    'com.atproto.identity.updateHandle',
    'com.atproto.server.activateAccount',
    'com.atproto.server.confirmEmail',
    'com.atproto.server.createAppPassword',
    'com.atproto.server.deactivateAccount',
    'com.atproto.server.getAccountInviteCodes',
    'com.atproto.server.getSession',
    'com.atproto.server.listAppPasswords',
    'com.atproto.server.requestAccountDelete',
    'com.atproto.server.requestEmailConfirmation',
    'com.atproto.server.requestEmailUpdate',
    'com.atproto.server.revokeAppPassword',
    'com.atproto.server.updateEmail',
  ].map((m) => m.toLowerCase()),
)

const PRIVILEGED = new Set(
  [
    'com.atproto.server.createAccount',
    // Bluesky chat: a token for these reads or sends the account's direct messages
    'chat.bsky.actor.deleteAccount',
    'chat.bsky.actor.exportAccountData',
    'chat.bsky.convo.deleteMessageForSelf',
    'chat.bsky.convo.getConvo',
    'chat.bsky.convo.getConvoForMembers',
    'chat.bsky.convo.getLog',
    'chat.bsky.convo.getMessages',
    'chat.bsky.convo.leaveConvo',
    'chat.bsky.convo.listConvos',
    'chat.bsky.convo.muteConvo',
    'chat.bsky.convo.sendMessage',
    'chat.bsky.convo.sendMessageBatch',
    'chat.bsky.convo.unmuteConvo',
    'chat.bsky.convo.updateRead',
  ].map((m) => m.toLowerCase()),
)

/** Account management that no service-auth token may be made for (nor a call forwarded). */
export function isProtectedMethod(nsid: string): boolean {
  return PROTECTED.has(nsid.toLowerCase())
}

/** Methods whose service-auth tokens need a privileged session (not a plain app password). */
export function isPrivilegedMethod(nsid: string): boolean {
  return PRIVILEGED.has(nsid.toLowerCase())
}
