import type { Db } from '../db/index.js'

/**
 * Bytes of every blob stored (a row of the blob table per stored file: temporary uploads and
 * permanent blobs), for the metrics. One scan of the blob table's rows.
 */
export function storedBlobBytes(db: Db): number {
  const row = db.sqlite.prepare<[], { bytes: number | null }>('SELECT SUM(size) AS bytes FROM blob').get()
  return row?.bytes ?? 0
}
