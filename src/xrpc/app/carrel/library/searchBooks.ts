import { MethodNotImplementedError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { BOOK_COLLECTION } from '../../../../indexer/library/book-entry.js'
import { BookSearcher, type BookSearch } from '../../../../indexer/library/book-search.js'
import { blobUrl } from '../../../../repo/blob-url.js'
import { recordBytesToJson } from '../../../../repo/record-json.js'
import type { XrpcRouter } from '../../../router.js'
import { findRepo, plainJson } from '../../../util.js'

type Params = Omit<BookSearch, 'limit'> & { repo: string; limit?: number }

/** The message of the 501 the library's queries answer when PDS_LIBRARY_INDEX is off. */
export const LIBRARY_INDEX_OFF = 'The library index is turned off on this server (PDS_LIBRARY_INDEX)'

export default function (server: XrpcRouter, ctx: AppContext): void {
  const searcher = new BookSearcher(ctx.db)
  server.method('app.carrel.library.searchBooks', {
    handler: ({ params }) => {
      if (!ctx.cfg.libraryIndex) throw new MethodNotImplementedError(LIBRARY_INDEX_OFF)
      const p = params as Params
      const { did } = findRepo(ctx, p.repo)
      const page = searcher.search(did, { ...p, limit: p.limit ?? 25 })
      // books the host took down are not in the index (src/indexer/record-index.ts)
      const books = page.hits.flatMap((hit) => {
        // the index and the records change in the same transactions, and nothing runs between
        // the search and these reads (all synchronous): every book found is there
        const record = ctx.repo.getRecordBytes(did, BOOK_COLLECTION, hit.rkey)
        if (!record) return []
        const coverUrl = hit.coverCid ? blobUrl(ctx.cfg.publicUrl, did, hit.coverCid) : undefined
        return [{ uri: `at://${did}/${BOOK_COLLECTION}/${hit.rkey}`, cid: record.cid, value: recordBytesToJson(record.bytes), coverUrl }]
      })
      return plainJson({ books, cursor: page.cursor })
    },
  })
}
