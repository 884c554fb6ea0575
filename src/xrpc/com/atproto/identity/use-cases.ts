import type { AppContext } from '../../../../context.js'
import { PlcOperationFlow } from '../../../../lifecycle/plc-operations.js'
import { HandleUpdater } from '../../../../lifecycle/update-handle.js'

// The identity use cases, made once per application context and shared by the methods here
// (their rate limits and locks must be the same object for every request).
const flows = new WeakMap<AppContext, PlcOperationFlow>()
const updaters = new WeakMap<AppContext, HandleUpdater>()

export function plcOperationFlow(ctx: AppContext): PlcOperationFlow {
  let flow = flows.get(ctx)
  if (!flow) {
    const { cfg, db, logger, accounts, sequencer, identity, repo } = ctx
    flow = new PlcOperationFlow({ cfg, db, logger, accounts, sequencer, identity, repo })
    flows.set(ctx, flow)
  }
  return flow
}

export function handleUpdater(ctx: AppContext): HandleUpdater {
  let updater = updaters.get(ctx)
  if (!updater) {
    const { cfg, db, logger, accounts, sequencer, identity } = ctx
    updater = new HandleUpdater({ cfg, db, logger, accounts, sequencer, identity })
    updaters.set(ctx, updater)
  }
  return updater
}
