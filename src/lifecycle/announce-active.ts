import { parseCid } from '@atproto/lex-data'
import { InvalidRequestError } from '@atproto/xrpc-server'
import type { Sequencer } from '../firehose/sequencer.js'
import { encodeCar } from '../repo/car.js'
import type { RepoService } from '../repo/service.js'

/**
 * Inside a write transaction, for an account that is served again (activation, a lifted
 * takedown): `#identity` (with the handle), `#account {active:true}` and a `#sync` of the current
 * commit, in the account-lifecycle guide's order, so that a relay re-reads the identity and
 * takes the repo's current state, whatever it dropped while the account was not active.
 */
export function announceActiveInTx(d: { repo: RepoService; sequencer: Sequencer }, did: string, handle: string): void {
  const root = d.repo.roots.get(did)
  if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
  const commitBytes = d.repo.storage(did).getBytesSync(root.cid)
  if (!commitBytes) throw new Error(`commit block ${root.cid} of ${did} is missing`)
  d.sequencer.appendIdentityInTx(did, handle)
  d.sequencer.appendAccountInTx(did, true)
  d.sequencer.appendSyncInTx(did, root.rev, encodeCar(parseCid(root.cid), [[root.cid, commitBytes]]))
}
