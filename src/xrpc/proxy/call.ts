import { Readable } from 'node:stream'
import { XRPCError } from '@atproto/xrpc-server'
import type { AppContext } from '../../context.js'
import { OutboundFetchError } from '../../identity/safe-fetch.js'
import { isJsonType, nonXrpcError, upstreamError } from './forward.js'
import { serviceToken, type ServiceTarget } from './index.js'

/** Most bytes of a service's error answer read (its `{error, message}`). */
const MAX_ERROR_BYTES = 64 * 1024

/**
 * A procedure call of this server's own to a service, on the account's behalf (its service-auth
 * token for `lxm`), with a JSON body: for methods that name their service in the body rather than
 * in a header (registerPush). A 2xx answer resolves (its body dropped); an error answer is
 * thrown as the same XRPC error, status and name; a failure to reach the service as for
 * forwarded calls (502 UpstreamFailure, 504 UpstreamTimeout, 400 for a refused endpoint).
 */
export async function callService(ctx: AppContext, target: ServiceTarget, call: { iss: string; lxm: string; body: unknown }): Promise<void> {
  const token = await serviceToken(ctx, call.iss, target.did, call.lxm)
  const bytes = Buffer.from(JSON.stringify(call.body))
  let answer
  try {
    answer = await target.send({
      url: new URL(`/xrpc/${call.lxm}`, target.endpoint),
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': bytes.length, authorization: `Bearer ${token}`, 'accept-encoding': 'identity' },
      body: Readable.from([bytes]),
    })
  } catch (err) {
    throw upstreamError(err)
  }
  if (answer.status < 400) {
    answer.body.resume()
    return
  }
  if (!isJsonType(answer.headers['content-type'])) throw nonXrpcError(answer)
  let payload: { error?: unknown; message?: unknown } = {}
  try {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of answer.body) {
      size += (chunk as Buffer).length
      if (size > MAX_ERROR_BYTES) break
      chunks.push(chunk as Buffer)
    }
    payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) ?? {}
  } catch (err) {
    if (err instanceof OutboundFetchError) throw upstreamError(err)
    // not JSON after all: the status alone
  }
  const name = typeof payload.error === 'string' ? payload.error : undefined
  const message = typeof payload.message === 'string' ? payload.message : undefined
  throw new XRPCError(answer.status, message, name)
}
