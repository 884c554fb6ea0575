import { InvalidRequestError } from '@atproto/xrpc-server'
import { recordJsonValue } from '../../repo/record-json-text.js'
import type { RepoService } from '../../repo/service.js'
import type { DeviceState, DeviceStateStore } from './device-state.js'

export const DEVICE_COLLECTION = 'app.carrel.sync.device'

/** A device record with the private state its device last reported. */
export type DeviceView = { id: string; uri: string; cid: string; value: unknown; state?: DeviceState }

export type Heartbeat = { device: string; rev?: string; appVersion?: string }

/**
 * The devices an account syncs from: public `app.carrel.sync.device` records (key = the
 * device's own id) joined with private heartbeat state. State is kept only for a device whose
 * record exists (so it is bounded by the repo) and goes with the record (the commit hook).
 */
export class Devices {
  constructor(
    private state: DeviceStateStore,
    private repo: RepoService,
  ) {}

  /** Records the device's heartbeat; answers the time recorded and the repo's current rev. */
  heartbeat(did: string, beat: Heartbeat): { lastSeenAt: string; rev: string } {
    const root = this.repo.roots.get(did)
    if (!root) throw new InvalidRequestError(`Could not find repo: ${did}`, 'RepoNotFound')
    if (!this.repo.records.get(did, DEVICE_COLLECTION, beat.device)) {
      throw new InvalidRequestError(
        `No ${DEVICE_COLLECTION} record has the key ${beat.device}: create the device's record first`,
        'DeviceNotFound',
      )
    }
    const lastSeenAt = new Date().toISOString()
    this.state.put(did, beat.device, { lastSeenAt, rev: beat.rev, appVersion: beat.appVersion })
    return { lastSeenAt, rev: root.rev }
  }

  /** Device records in key order after `cursor`, each with its state. */
  list(did: string, opts: { limit: number; cursor?: string }): { devices: DeviceView[]; cursor?: string } {
    const rows = this.repo.records.list(did, DEVICE_COLLECTION, { limit: opts.limit, cursor: opts.cursor, reverse: true })
    const devices: DeviceView[] = []
    for (const row of rows) {
      const block = this.repo.blocks.get(did, row.cid)
      if (!block) continue
      devices.push({
        id: row.rkey,
        uri: `at://${did}/${DEVICE_COLLECTION}/${row.rkey}`,
        cid: row.cid,
        value: recordJsonValue(block),
        state: this.state.get(did, row.rkey),
      })
    }
    return { devices, cursor: rows.length === opts.limit ? rows[rows.length - 1]!.rkey : undefined }
  }
}
