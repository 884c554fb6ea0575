import type { ServerResponse } from 'node:http'
import { HandleResolutionBusyError } from '../../../../identity/handle-resolver.js'

/** Runs a resolution; when too many are under way (429), the answer tells the client to retry in a second. */
export async function retryAfterWhenBusy<T>(res: ServerResponse, resolve: () => Promise<T>): Promise<T> {
  try {
    return await resolve()
  } catch (err) {
    if (err instanceof HandleResolutionBusyError) res.setHeader('Retry-After', '1')
    throw err
  }
}
