import { InvalidRequestError } from '@atproto/xrpc-server'
import { withoutStackTraces } from '../lexicon-validation.js'
import type { XrpcRouter, Route } from './router.js'

/** A query parameter's value by its lexicon type, as xrpc-server decodes it. */
function decodeParam(type: string, value: string | string[] | undefined): unknown {
  if (!value) return undefined
  const s = String(value)
  if (type === 'string' || type === 'datetime') return s
  if (type === 'float') return Number(s)
  if (type === 'integer') return parseInt(s, 10) || 0
  if (type === 'boolean') return s === 'true'
  return undefined
}

/** The query string's parameters, decoded by their lexicon types and validated; unknown ones are dropped. */
export function parseParams(router: XrpcRouter, route: Route, url: string): Record<string, unknown> {
  const q = url.indexOf('?')
  const raw = Object.create(null) as Record<string, string | string[]>
  if (q !== -1 && q < url.length - 1) {
    const search = new URLSearchParams(url.slice(q + 1))
    if (search.has('__proto__')) throw new InvalidRequestError('Invalid query parameter: __proto__', 'InvalidQueryParameter')
    for (const key of search.keys()) {
      if (key in raw) continue
      const values = search.getAll(key)
      raw[key] = values.length === 1 ? values[0] : values
    }
  }
  const properties = route.def.parameters?.properties ?? {}
  const decoded: Record<string, unknown> = {}
  for (const key in raw) {
    const property = properties[key]
    if (!property) continue
    const value = raw[key]
    decoded[key] =
      property.type === 'array'
        ? ([] as string[]).concat(value).flatMap((v) => decodeParam(property.items.type, v) ?? [])
        : decodeParam(property.type, value)
  }
  try {
    return withoutStackTraces(() => router.lexicons.assertValidXrpcParams(route.nsid, decoded)) as Record<string, unknown>
  } catch (cause) {
    throw new InvalidRequestError(cause instanceof Error ? cause.message : String(cause), undefined, { cause })
  }
}
