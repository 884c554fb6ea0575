import { MethodNotImplementedError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { LibraryStatsReader } from '../../../../indexer/library/library-stats.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, plainJson } from '../../../util.js'
import { LIBRARY_INDEX_OFF } from './searchBooks.js'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const reader = new LibraryStatsReader(ctx.db)
  server.method('app.carrel.library.getStats', {
    handler: ({ params }) => {
      if (!ctx.cfg.libraryIndex) throw new MethodNotImplementedError(LIBRARY_INDEX_OFF)
      const p = params as { repo: string; top?: number }
      const { did } = findRepo(ctx, p.repo)
      return plainJson(reader.stats(did, p.top ?? 10))
    },
  })
}
