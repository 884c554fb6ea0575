import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { LexiconDoc, Lexicons, LexXrpcProcedure, LexXrpcQuery } from '@atproto/lexicon'
// The com.atproto.*, app.bsky.*, chat.bsky.* and tools.ozone.* lexicons published with
// @atproto/api: only its generated lexicon module (a path alias in tsconfig.json, which tsx and
// the bundler follow), as the package's entry point also loads the whole client (~25 MB).
import { lexicons as published, schemas as publishedDocs } from '@carrel/published-lexicons'
import { packageRoot } from './paths.js'

const lexiconsDir = join(packageRoot, 'lexicons')

function readLexiconFiles(dir: string): LexiconDoc[] {
  const out: LexiconDoc[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...readLexiconFiles(path))
    else if (name.endsWith('.json')) out.push(JSON.parse(readFileSync(path, 'utf8')) as LexiconDoc)
  }
  return out
}

export type LoadedLexicons = { docs: LexiconDoc[]; lexicons: Lexicons }

/** The published lexicons plus our own app.carrel.* files in lexicons/. */
export async function loadLexicons(): Promise<LoadedLexicons> {
  const own = readLexiconFiles(lexiconsDir)
  // the module's Lexicons instance is ours alone: extend it rather than build a second one
  for (const doc of own) if (!published.getDef(doc.id)) published.add(doc)
  return { docs: [...(publishedDocs as LexiconDoc[]), ...own], lexicons: published }
}

/** The query or procedure `nsid` names in `lexicons`; undefined for anything else or nothing. */
export function xrpcMethodDef(lexicons: Lexicons, nsid: string): LexXrpcQuery | LexXrpcProcedure | undefined {
  const def = lexicons.getDef(nsid) as { type?: unknown } | undefined
  return def?.type === 'query' || def?.type === 'procedure' ? (def as LexXrpcQuery | LexXrpcProcedure) : undefined
}
