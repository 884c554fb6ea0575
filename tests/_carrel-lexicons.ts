// Teaches a client agent the app.carrel.* lexicons of this checkout (lexicons/app/carrel/), so
// that `agent.call('app.carrel....')` encodes and checks its calls as a Library Manager would.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AtpAgent } from '@atproto/api'
import type { LexiconDoc } from '@atproto/lexicon'

const dir = join(import.meta.dirname, '..', 'lexicons', 'app', 'carrel')
const docs = (readdirSync(dir, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as LexiconDoc)

export function withCarrelLexicons<A extends AtpAgent>(agent: A): A {
  for (const doc of docs) if (!agent.lex.get(doc.id)) agent.lex.add(doc)
  return agent
}
