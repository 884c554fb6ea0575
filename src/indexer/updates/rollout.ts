import { createHmac, randomBytes } from 'node:crypto'
import type { Db } from '../../db/index.js'

/**
 * A device's place in a release's staged rollout: a bucket 0..99, offered the release when the
 * bucket is below rolloutPercent. The bucket is HMAC-SHA-256 of the device id and the release's
 * URI under a key only this server knows (made once, kept in update_rollout_key), so it is the
 * same on every call and after restarts and rebuilds, raising the percentage only ever adds
 * devices, and nobody can work out which device id would land in an early bucket.
 */
export class RolloutBuckets {
  private readonly key: Buffer

  constructor(db: Db) {
    db.sqlite.prepare('INSERT OR IGNORE INTO update_rollout_key (id, key) VALUES (1, ?)').run(randomBytes(32))
    this.key = db.sqlite.prepare<[], Buffer>('SELECT key FROM update_rollout_key WHERE id = 1').pluck().get()!
  }

  bucket(device: string, releaseUri: string): number {
    const mac = createHmac('sha256', this.key).update(device).update('\u0000').update(releaseUri).digest()
    // 2^32 is not a multiple of 100: buckets 0..95 get one value in 42,949,673 more than the rest (no matter)
    return mac.readUInt32BE(0) % 100
  }

  /** Whether a release at `percent` is offered to `device` (none: only releases at 100). */
  includes(device: string | undefined, releaseUri: string, percent: number): boolean {
    if (percent >= 100) return true
    if (device === undefined || percent <= 0) return false
    return this.bucket(device, releaseUri) < percent
  }
}
