// A child process (node --expose-gc) that makes one delta patch and proves it: the server forks it
// for each createDelta (src/indexer/updates/delta-maker.ts), so that the codec's memory is its own
// and goes back to the system when it exits, and nothing it does can stall or crash the server.
//
// Message in:  { oldPath, newPath, outPath, options? }
// Message out: { ok: true, size, segments, result: { size, sha256 }, makeMs, verifyMs, peakRssBytes }
//              or { ok: false, error }
import process from 'node:process'
import { hashPatched } from './apply-delta.mjs'
import { makeDelta } from './make-delta.mjs'

process.once('message', async (job) => {
  let reply
  try {
    const t0 = performance.now()
    const made = await makeDelta(job.oldPath, job.newPath, job.outPath, job.options ?? {})
    const t1 = performance.now()
    // applied to the old file, the patch must give the new file's bytes: the caller compares
    // this with the SHA-256 the release record states for the new artifact
    const result = await hashPatched(job.oldPath, job.outPath)
    const t2 = performance.now()
    reply = {
      ok: true,
      size: made.size,
      segments: made.segments,
      result,
      makeMs: Math.round(t1 - t0),
      verifyMs: Math.round(t2 - t1),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    }
  } catch (err) {
    reply = { ok: false, error: String(err?.message ?? err) }
  }
  process.send(reply, () => process.exit(0))
})
