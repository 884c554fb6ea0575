import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { schemas as atprotoSchemas } from '@atproto/api'
import { Lexicons, type LexiconDoc } from '@atproto/lexicon'

const lexiconsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'lexicons')

function readLexiconFiles(dir: string): LexiconDoc[] {
  const out: LexiconDoc[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...readLexiconFiles(path))
    else if (name.endsWith('.json')) out.push(JSON.parse(readFileSync(path, 'utf8')) as LexiconDoc)
  }
  return out
}

/** com.atproto.*, app.bsky.*, chat.bsky.*, tools.ozone.* from @atproto/api, plus our app.carrel.* files */
export function loadLexiconDocs(): LexiconDoc[] {
  return [...(atprotoSchemas as LexiconDoc[]), ...readLexiconFiles(lexiconsDir)]
}

export function createLexicons(docs: LexiconDoc[] = loadLexiconDocs()): Lexicons {
  return new Lexicons(docs)
}
