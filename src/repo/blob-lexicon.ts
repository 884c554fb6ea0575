import { getBlobCid, isBlobRef } from '@atproto/lex-data'
import type { Lexicons } from '@atproto/lexicon'

export type BlobConstraint = { cid: string; path: string; accept?: string[]; maxSize?: number }

type AnyDef = { type?: string; [k: string]: unknown }

const MAX_DEPTH = 32

function lexUri(s: string): string {
  const u = s.startsWith('lex:') ? s : `lex:${s}`
  return u.endsWith('#main') ? u.slice(0, -'#main'.length) : u
}

/**
 * The blob fields a record's lexicon declares, with their `accept` and `maxSize`, for each blob
 * the record actually holds there. Walks the record alongside its lexicon (objects, refs,
 * unions by `$type`, arrays). Unknown collection or unknown union variant: nothing to enforce.
 */
export function blobConstraints(lexicons: Lexicons, collection: string, record: unknown): BlobConstraint[] {
  const def = lexicons.getDef(collection) as AnyDef | undefined
  if (!def || def.type !== 'record') return []
  const out: BlobConstraint[] = []
  walk(lexicons, def.record as AnyDef, record, collection, 0, out)
  return out
}

function walk(lexicons: Lexicons, def: AnyDef | undefined, value: unknown, path: string, depth: number, out: BlobConstraint[]) {
  if (!def || value === undefined || value === null || depth > MAX_DEPTH) return
  switch (def.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return
      const props = (def.properties ?? {}) as Record<string, AnyDef>
      for (const [name, propDef] of Object.entries(props)) {
        walk(lexicons, propDef, (value as Record<string, unknown>)[name], `${path}/${name}`, depth + 1, out)
      }
      return
    }
    case 'array': {
      if (!Array.isArray(value)) return
      value.forEach((item, i) => walk(lexicons, def.items as AnyDef, item, `${path}/${i}`, depth + 1, out))
      return
    }
    case 'ref': {
      walk(lexicons, lexicons.getDef(def.ref as string) as AnyDef | undefined, value, path, depth + 1, out)
      return
    }
    case 'union': {
      if (typeof value !== 'object') return
      const t = (value as { $type?: unknown }).$type
      if (typeof t !== 'string') return
      const wanted = lexUri(t)
      const ref = ((def.refs ?? []) as string[]).find((r) => lexUri(r) === wanted)
      // an open union may carry a type we do not know: nothing to enforce there
      if (ref) walk(lexicons, lexicons.getDef(ref) as AnyDef | undefined, value, path, depth + 1, out)
      return
    }
    case 'record': {
      walk(lexicons, def.record as AnyDef, value, path, depth + 1, out)
      return
    }
    case 'blob': {
      if (!isBlobRef(value)) return
      out.push({
        cid: getBlobCid(value).toString(),
        path,
        accept: Array.isArray(def.accept) ? (def.accept as string[]) : undefined,
        maxSize: typeof def.maxSize === 'number' ? def.maxSize : undefined,
      })
      return
    }
    default:
      return
  }
}

/** `accept` patterns: exact types, `type/*` and `*\/*`. */
export function mimeAccepted(mime: string, accept: string[] | undefined): boolean {
  if (!accept || accept.length === 0) return true
  const m = mime.toLowerCase()
  return accept.some((p) => {
    const a = p.toLowerCase()
    if (a === '*/*' || a === '*') return true
    if (a.endsWith('/*')) return m.startsWith(a.slice(0, -1))
    return a === m
  })
}
