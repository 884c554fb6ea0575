import { errorResult } from '@atproto/xrpc-server'

/*
 * xrpc-server checks every auth function's result against its error-result schema
 * ({status >= 400, error?, message?}) before running the handler. A credentials object has no
 * `status`, so the schema builds a validation error, stack trace included, only to report
 * "no": a fifth of the framework's cost on an authenticated write. A value without a `status`
 * key cannot match the schema, so it is answered at once; anything else is checked as before.
 */

let installed = false
const NOT_AN_ERROR_RESULT = Object.freeze({ success: false as const })

export function installXrpcServerSpeedups(): void {
  if (installed) return
  installed = true
  const schema = errorResult as unknown as { safeParse: (v: unknown, opts?: unknown) => unknown }
  const safeParse = schema.safeParse
  schema.safeParse = function (this: unknown, value: unknown, opts?: unknown) {
    if (value === null || typeof value !== 'object' || !('status' in value)) return NOT_AN_ERROR_RESULT
    return safeParse.call(this, value, opts)
  }
}
