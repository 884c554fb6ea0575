import type { AppContext } from '../../../../context.js'
import { assertRepoReadable } from '../../../../accounts/status.js'
import { ResponseCutError } from '../../../../repo/bounded-stream.js'
import { ExportRefusedError, ExportSlots } from '../../../../repo/export-slots.js'
import { clientIp } from '../../../client-ip.js'
import type { XrpcRouter } from '../../../router.js'
import { isOwnerOrAdmin } from '../../../util.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const limits = ctx.cfg.exportLimits
  const slots = new ExportSlots({ maxConcurrent: limits.maxConcurrent, maxConcurrentPerClient: limits.maxConcurrentPerIp })
  server.method('com.atproto.sync.getRepo', {
    // the account itself and the admin may export a repo that is not served (taken down, deactivated)
    auth: ctx.auth.accountOrAdminOptional,
    handler: ({ auth, params, req, res }) => {
      const p = params as { did: string; since?: string }
      assertRepoReadable(ctx.accounts, p.did, isOwnerOrAdmin(auth, p.did))
      let release: () => void
      try {
        release = slots.take(clientIp(req))
      } catch (err) {
        if (err instanceof ExportRefusedError) res.setHeader('Retry-After', String(err.retryAfterSec))
        throw err
      }
      try {
        const exp = ctx.exporter.exportRepo(p.did, p.since, { stallTimeoutMs: limits.stallTimeoutMs, maxAgeMs: limits.maxSnapshotAgeMs })
        exp.stream.once('close', release)
        exp.stream.once('error', (err) => {
          if (err instanceof ResponseCutError) ctx.logger.info({ did: p.did, reason: err.reason }, 'getRepo response cut')
        })
        return { encoding: 'application/vnd.ipld.car', stream: exp.stream, headers: { 'Atproto-Repo-Rev': exp.rev } }
      } catch (err) {
        release()
        throw err
      }
    },
  })
}
