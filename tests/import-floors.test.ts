// The rooms of src/ import only downhill (docs/design.md "Floors"): every relative import
// goes to the same floor or a lower one, and only the XRPC layer and the entry point know the
// application context. A static check of the source, so that an upward import fails the suite.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const src = join(import.meta.dirname, '..', 'src')

/** Floors from the top (0) down; a module is placed by its room (folder) or its file name. */
const FLOORS: [string, number][] = [
  ['index', 0],
  ['pds', 0],
  ['pds-metrics', 0],
  // the operator's CLI: an entry point like the server's, it builds the context when it works offline
  ['cli', 0],
  ['server', 1],
  ['well-known', 1],
  ['web', 1],
  ['xrpc', 2],
  ['context', 3],
  ['lifecycle', 4],
  ['auth', 5],
  ['identity', 5],
  ['repo', 5],
  ['indexer', 5],
  ['mail', 5],
  ['firehose', 6],
  ['accounts', 6],
  ['db', 7],
  ['config', 7],
  ['dag-cbor', 7],
  ['logger', 7],
  ['metrics', 7],
  ['paths', 7],
  ['keyed-lock', 7],
  ['lexicons', 7],
  ['lexicon-validation', 7],
]

function room(file: string): string {
  const rel = relative(src, file)
  return rel.split('/')[0]!.replace(/\.(ts|mjs|js)$/, '')
}

function floorOf(file: string): number {
  const name = room(file)
  const floor = FLOORS.find(([r]) => r === name)?.[1]
  if (floor === undefined) throw new Error(`${relative(src, file)}: room "${name}" has no floor; add it to FLOORS (and to the design)`)
  return floor
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return sourceFiles(p)
    return /\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [p] : []
  })
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(code: string): string[] {
  const out: string[] = []
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g
  for (let m = re.exec(code); m; m = re.exec(code)) out.push(m[1]!)
  return out
}

test('every import in src/ runs down a floor or stays on one; only xrpc and the entry point import the context', () => {
  const files = sourceFiles(src)
  assert.ok(files.length > 50, `found ${files.length} source files`)
  const violations: string[] = []
  let checked = 0
  for (const file of files) {
    const from = floorOf(file)
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'))
      const to = floorOf(target)
      checked++
      if (to < from) violations.push(`${relative(src, file)} (floor ${from}) imports ${spec} (floor ${to})`)
      if (room(target) === 'context' && !['xrpc', 'server', 'pds', 'index', 'cli', 'context'].includes(room(file))) {
        violations.push(`${relative(src, file)} imports the application context`)
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} imports`)
  assert.equal(violations, [])
})

test('the check itself: an upward import is caught', () => {
  const specs = relativeImports("import type { AppContext } from '../context.js'\nconst m = await import('./x.js')")
  assert.is(specs.length, 2)
  assert.ok(specs[0]!.startsWith('..') && specs[0]!.endsWith('/context.js'), specs[0])
  assert.is(specs[1], './x.js')
  const repoFile = join(src, 'repo', 'service.ts')
  assert.ok(floorOf(join(src, 'xrpc', 'util.ts')) < floorOf(repoFile))
  assert.ok(floorOf(join(src, 'accounts', 'account-store.ts')) > floorOf(join(src, 'auth', 'verifier.ts')))
})

test.run()
