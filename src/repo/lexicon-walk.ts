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
 * Branches of the lexicon that cannot hold such a leaf are not entered: which ones can is worked
 * out once per definition and remembered. An open union member whose `$type` the lexicons do not
 * know is skipped, as the lexicon validator skips it. Data nesting is bounded before this runs
 * (`jsonToLexStrict`), so the walk is too.
 */
export class LexiconWalker {
  // per Lexicons instance: a ref's target, and so the answer, depends on which lexicons are loaded
  private readonly holdsLeaf = new WeakMap<Lexicons, WeakMap<LexNode, boolean>>()

  constructor(private readonly isLeaf: (def: LexNode) => boolean) {}

  /** Does nothing when `collection` is not a record type these lexicons know. */
  walkRecord(lexicons: Lexicons, collection: string, record: unknown, rootPath: string, visit: LeafVisitor): void {
    const def = lexicons.getDef(collection) as LexNode | undefined
    if (def?.type === 'record') this.walk(lexicons, def.record as LexNode | undefined, record, rootPath, visit)
  }

  private walk(lexicons: Lexicons, def: LexNode | undefined, value: unknown, path: string, visit: LeafVisitor): void {
    if (!def || value === undefined || value === null) return
    if (!this.canHoldLeaf(lexicons, def)) return
    if (this.isLeaf(def)) {
      visit(def, value, path)
      return
    }
    switch (def.type) {
      case 'object': {
        if (typeof value !== 'object' || Array.isArray(value)) return
        const props = (def.properties ?? {}) as Record<string, LexNode>
        for (const name in props) {
          this.walk(lexicons, props[name], (value as Record<string, unknown>)[name], childPath(path, name), visit)
        }
        return
      }
      case 'array': {
        if (!Array.isArray(value)) return
        for (let i = 0; i < value.length; i++) this.walk(lexicons, def.items as LexNode, value[i], childPath(path, i), visit)
        return
      }
      case 'ref':
        this.walk(lexicons, this.resolve(lexicons, def), value, path, visit)
        return
      case 'union':
        this.walk(lexicons, this.unionMember(lexicons, def, value), value, path, visit)
        return
      default:
        return
    }
  }

  private resolve(lexicons: Lexicons, def: LexNode): LexNode | undefined {
    let target: LexNode | undefined = def
    for (let hops = 0; target?.type === 'ref'; hops++) {
      if (hops === MAX_REF_HOPS) return undefined
      target = lexicons.getDef(target.ref as string) as LexNode | undefined
    }
    return target
  }

  private unionMember(lexicons: Lexicons, def: LexNode, value: unknown): LexNode | undefined {
    if (typeof value !== 'object' || value === null) return undefined
    const type = (value as { $type?: unknown }).$type
    if (typeof type !== 'string') return undefined
    const wanted = lexUri(type)
    const ref = ((def.refs ?? []) as string[]).find((r) => lexUri(r) === wanted)
    return ref ? (lexicons.getDef(ref) as LexNode | undefined) : undefined
  }

  /**
   * Whether a value under `def` can contain a leaf of interest. A definition met again while its
   * own answer is being worked out (a recursive lexicon) counts as yes: that can only make the
   * walk enter a branch it did not need, never skip one it did.
   */
  private canHoldLeaf(lexicons: Lexicons, def: LexNode): boolean {
    let answers = this.holdsLeaf.get(lexicons)
    if (!answers) this.holdsLeaf.set(lexicons, (answers = new WeakMap()))
    const known = answers.get(def)
    if (known !== undefined) return known
    answers.set(def, true)
    const answer = this.computeCanHoldLeaf(lexicons, def)
    answers.set(def, answer)
    return answer
  }

  private computeCanHoldLeaf(lexicons: Lexicons, def: LexNode): boolean {
    if (this.isLeaf(def)) return true
    const can = (d: LexNode | undefined) => d === undefined || this.canHoldLeaf(lexicons, d)
    switch (def.type) {
      case 'object':
        return Object.values((def.properties ?? {}) as Record<string, LexNode>).some(can)
      case 'array':
        return can(def.items as LexNode | undefined)
      case 'ref':
        // an unresolvable ref cannot be ruled out (lexicons can be added later)
        return can(this.resolve(lexicons, def))
      case 'union':
        return ((def.refs ?? []) as string[]).some((r) => can(lexicons.getDef(r) as LexNode | undefined))
      default:
        return false
    }
  }
}
