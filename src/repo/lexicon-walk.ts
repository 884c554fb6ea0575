import type { Lexicons } from '@atproto/lexicon'

/** A lexicon definition, as @atproto/lexicon holds it (refs already absolute `lex:` URIs). */
export type LexNode = { type?: string; [k: string]: unknown }

export type LeafVisitor = (def: LexNode, value: unknown, path: string) => void

/** Refs that only lead to other refs are not valid lexicon; stop following such a chain here. */
const MAX_REF_HOPS = 8

function lexUri(s: string): string {
  const u = s.startsWith('lex:') ? s : `lex:${s}`
  return u.endsWith('#main') ? u.slice(0, -'#main'.length) : u
}

function childPath(path: string, key: string | number): string {
  return path ? `${path}/${key}` : String(key)
}

/**
 * Walks a record alongside its lexicon (objects, refs, unions by `$type`, arrays, nested defs)
 * and calls `visit` for every present value whose definition is a leaf of interest (`isLeaf`).
 * Branches of the lexicon that cannot hold such a leaf are not entered: which ones can (and, for
 * each object, which of its properties) is worked out once per definition and remembered. An open union member whose `$type` the lexicons do not
 * know is skipped, as the lexicon validator skips it. Data nesting is bounded before this runs
 * (`jsonToLexStrict`), so the walk is too.
 */
export class LexiconWalker {
  // per Lexicons instance: a ref's target, and so every answer, depends on which are loaded
  private readonly caches = new WeakMap<Lexicons, WalkCache>()

  constructor(private readonly isLeaf: (def: LexNode) => boolean) {}

  /** Does nothing when `collection` is not a record type these lexicons know. */
  walkRecord(lexicons: Lexicons, collection: string, record: unknown, rootPath: string, visit: LeafVisitor): void {
    const def = lexicons.getDef(collection) as LexNode | undefined
    if (def?.type !== 'record') return
    let cache = this.caches.get(lexicons)
    if (!cache) this.caches.set(lexicons, (cache = new WalkCache(lexicons)))
    this.walk(cache, def.record as LexNode | undefined, record, rootPath, visit)
  }

  private walk(c: WalkCache, def: LexNode | undefined, value: unknown, path: string, visit: LeafVisitor): void {
    if (!def || value === undefined || value === null) return
    if (!this.canHoldLeaf(c, def)) return
    if (this.isLeaf(def)) {
      visit(def, value, path)
      return
    }
    switch (def.type) {
      case 'object': {
        if (typeof value !== 'object' || Array.isArray(value)) return
        const props = def.properties as Record<string, LexNode>
        for (const name of this.propsHoldingLeaf(c, def)) {
          this.walk(c, props[name], (value as Record<string, unknown>)[name], childPath(path, name), visit)
        }
        return
      }
      case 'array': {
        if (!Array.isArray(value)) return
        for (let i = 0; i < value.length; i++) this.walk(c, def.items as LexNode, value[i], childPath(path, i), visit)
        return
      }
      case 'ref':
        this.walk(c, c.resolve(def), value, path, visit)
        return
      case 'union':
        this.walk(c, c.unionMember(def, value), value, path, visit)
        return
      default:
        return
    }
  }

  /** The properties of an object definition whose values can contain a leaf of interest. */
  private propsHoldingLeaf(c: WalkCache, def: LexNode): string[] {
    let names = c.leafProps.get(def)
    if (!names) {
      const props = (def.properties ?? {}) as Record<string, LexNode>
      names = Object.keys(props).filter((name) => this.canHoldLeaf(c, props[name]))
      c.leafProps.set(def, names)
    }
    return names
  }

  /**
   * Whether a value under `def` can contain a leaf of interest. A definition met again while its
   * own answer is being worked out (a recursive lexicon) counts as yes: that can only make the
   * walk enter a branch it did not need, never skip one it did.
   */
  private canHoldLeaf(c: WalkCache, def: LexNode): boolean {
    const known = c.holdsLeaf.get(def)
    if (known !== undefined) return known
    c.holdsLeaf.set(def, true)
    const answer = this.computeCanHoldLeaf(c, def)
    c.holdsLeaf.set(def, answer)
    return answer
  }

  private computeCanHoldLeaf(c: WalkCache, def: LexNode): boolean {
    if (this.isLeaf(def)) return true
    // an unresolvable ref cannot be ruled out (lexicons can be added later)
    const can = (d: LexNode | undefined) => d === undefined || this.canHoldLeaf(c, d)
    switch (def.type) {
      case 'object':
        return Object.values((def.properties ?? {}) as Record<string, LexNode>).some(can)
      case 'array':
        return can(def.items as LexNode | undefined)
      case 'ref':
        return can(c.resolve(def))
      case 'union':
        return ((def.refs ?? []) as string[]).some((r) => can(c.lexicons.getDef(r) as LexNode | undefined))
      default:
        return false
    }
  }
}

/** What a walker has worked out about one Lexicons instance's definitions. */
class WalkCache {
  readonly holdsLeaf = new WeakMap<LexNode, boolean>()
  readonly leafProps = new WeakMap<LexNode, string[]>()
  private readonly refTargets = new WeakMap<LexNode, LexNode>()

  constructor(readonly lexicons: Lexicons) {}

  /** The definition a ref points to, following ref chains; undefined when not (yet) known. */
  resolve(def: LexNode): LexNode | undefined {
    const known = this.refTargets.get(def)
    if (known) return known
    let target: LexNode | undefined = def
    for (let hops = 0; target?.type === 'ref'; hops++) {
      if (hops === MAX_REF_HOPS) return undefined
      target = this.lexicons.getDef(target.ref as string) as LexNode | undefined
    }
    if (target) this.refTargets.set(def, target)
    return target
  }

  unionMember(def: LexNode, value: unknown): LexNode | undefined {
    if (typeof value !== 'object' || value === null) return undefined
    const type = (value as { $type?: unknown }).$type
    if (typeof type !== 'string') return undefined
    const wanted = lexUri(type)
    const ref = ((def.refs ?? []) as string[]).find((r) => lexUri(r) === wanted)
    return ref ? (this.lexicons.getDef(ref) as LexNode | undefined) : undefined
  }
}
