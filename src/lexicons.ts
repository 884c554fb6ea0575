import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LexiconDoc, Lexicons } from '@atproto/lexicon'
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

type ApiLexiconModule = { schemas: LexiconDoc[]; lexicons: Lexicons }

/**
 * The com.atproto.*, app.bsky.*, chat.bsky.* and tools.ozone.* lexicons published with
 * @atproto/api. Only its generated lexicon module is loaded, by file path: the package's
 * entry point also loads the whole client, which costs the server ~25 MB of memory.
 */
async function loadPublishedLexicons(): Promise<ApiLexiconModule> {
  const require = createRequire(import.meta.url)
  const entry = require.resolve('@atproto/api')
  return (await import(pathToFileURL(join(dirname(entry), 'client', 'lexicons.js')).href)) as ApiLexiconModule
}

export type LoadedLexicons = { docs: LexiconDoc[]; lexicons: Lexicons }

/** The published lexicons plus our own app.carrel.* files in lexicons/. */
export async function loadLexicons(): Promise<LoadedLexicons> {
  const published = await loadPublishedLexicons()
  const own = readLexiconFiles(lexiconsDir)
  // the module's Lexicons instance is ours alone: extend it rather than build a second one
  const lexicons = published.lexicons
  for (const doc of own) if (!lexicons.getDef(doc.id)) lexicons.add(doc)
  return { docs: [...published.schemas, ...own], lexicons }
}
