import { InvalidRequestError } from '@atproto/xrpc-server'
import type { AccountActivator } from './activate-account.js'
import type { AccountDeactivator } from './deactivate-account.js'
import type { StatusAttr, Takedowns } from './takedown.js'

export type AccountStatusChange = { takedown?: StatusAttr; deactivated?: StatusAttr }

/**
 * The host's change of an account's status (com.atproto.admin.updateSubjectStatus, the CLI):
 * a takedown, a deactivation, or both, in an order that never announces a state the account
 * does not end in. While the account is taken down (or is about to be), its deactivated flag
 * changes alone, unannounced: it is not served either way. So a takedown is applied first and a
 * deactivation lifted with it is set before the lift, which then announces it deactivated (never
 * active in between). An activation with a lift goes through the owner's rules after the lift
 * (the DID document must name this server). Neither attribute: what the account is, said again.
 * `beforeActivate` runs before an activation (the offline CLI starts its PLC directory there).
 */
export async function changeAccountStatus(
  d: { takedowns: Takedowns; accountDeactivator: AccountDeactivator; accountActivator: AccountActivator },
  did: string,
  { takedown, deactivated }: AccountStatusChange,
  beforeActivate?: () => Promise<void>,
): Promise<void> {
  if (takedown?.applied && deactivated && !deactivated.applied) {
    throw new InvalidRequestError('Cannot activate and takedown an account at the same time')
  }
  const lift = takedown?.applied === false
  if (takedown?.applied) d.takedowns.takeDownAccount(did, takedown.ref)
  // an activation that comes with a lift waits for it (its DID document check); anything else
  // on an account that is taken down only sets the flag, before a lift announces the account
  const flagOnly = deactivated !== undefined && !(lift && !deactivated.applied) && d.takedowns.setDeactivatedWhileTakenDown(did, deactivated.applied)
  if (lift) d.takedowns.liftAccountTakedown(did)
  if (deactivated && !flagOnly) {
    if (deactivated.applied) d.accountDeactivator.deactivate(did, null)
    else {
      await beforeActivate?.()
      await d.accountActivator.activate(did)
    }
  }
  if (!takedown && !deactivated) d.takedowns.announceAccount(did)
}
