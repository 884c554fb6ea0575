import type { Readable } from 'node:stream'
import { InvalidRequestError, ResponseType, XRPCError } from '@atproto/xrpc-server'
import type { AppContext } from '../../../../context.js'
import { CarFormatError, CarTooLargeError } from '../../../../repo/car-reader.js'
import type { XrpcRouter } from '../../../router.js'

const CAR = 'application/vnd.ipld.car'

export default function (server: XrpcRouter, ctx: AppContext): void {
  server.method('com.atproto.repo.importRepo', {
    // the account's own password, as the reference asks (it replaces the whole repo)
    auth: ctx.auth.accessFull,
    // a declared length over this is refused before anything is read; the reader counts the rest
    inputLimit: ctx.cfg.maxImportSize,
    handler: async ({ auth, input, res }) => {
      const { body, encoding } = input as { body: Readable; encoding: string }
      if (encoding !== CAR) throw new InvalidRequestError(`Wrong request encoding (Content-Type): ${encoding}; expected ${CAR}`)
      try {
        await ctx.repoImports.importRepo(auth.credentials.did, body)
      } catch (err) {
        if (err instanceof CarTooLargeError) {
          // the rest of the body is not read: the connection cannot be reused
          res.setHeader('Connection', 'close')
          throw new XRPCError(ResponseType.PayloadTooLarge, `The repo is larger than ${err.limit} bytes`, 'PayloadTooLarge')
        }
        if (err instanceof CarFormatError) {
          res.setHeader('Connection', 'close')
          throw new InvalidRequestError(`Invalid CAR: ${err.message}`)
        }
        throw err
      }
    },
  })
}
