// The README's Configuration section is the one list of the environment variables: every one
// the code reads has a row in its table, every row is read by the code, and every reference-PDS
// variable Carrel ignores (src/config.ts IGNORED_REFERENCE_VARIABLES) is named in its list of
// those, and is read nowhere. DEVELOPERS.md points there instead of keeping a second table.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { IGNORED_REFERENCE_VARIABLES } from '../src/config.ts'

const root = join(import.meta.dirname, '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** Server settings, as opposed to the PATH and HOME a script also reads. */
const SETTING = /^(PDS_[A-Z0-9_]+|LOG_[A-Z_]+|NODE_ENV|MALLOC_ARENA_MAX)$/

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(name) ? [p] : []
  })
}

/** Variables the server and its start scripts read: `env.X`, `env['X']`, and the secrets' `variable: 'X'`. */
function variablesRead(): Set<string> {
  const found = new Set<string>()
  const sources = [...files(join(root, 'src'), /\.(ts|mjs)$/), join(root, 'scripts', 'start.mjs'), join(root, 'scripts', 'runtime.mjs')]
  for (const file of sources) {
    const code = readFileSync(file, 'utf8')
    for (const m of code.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]*)|\[['"]([A-Z][A-Z0-9_]*)['"]\])|\bvariable: '([A-Z][A-Z0-9_]*)'|\b(MALLOC_ARENA_MAX):/g)) {
      const name = m[1] ?? m[2] ?? m[3] ?? m[4]!
      if (SETTING.test(name)) found.add(name)
    }
  }
  return found
}

function section(title: string): string {
  const start = readme.indexOf(`\n${title}\n`)
  assert.ok(start !== -1, `README has "${title}"`)
  const next = readme.slice(start + title.length + 2).search(/\n#{2,3} /)
  return next === -1 ? readme.slice(start) : readme.slice(start, start + title.length + 2 + next)
}

function tableVariables(): string[] {
  return [...section('## Configuration').matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]!)
}

test('every variable the code reads is in the README table, once, and every row is read', () => {
  const read = variablesRead()
  const rows = tableVariables()
  assert.ok(read.size > 40, `found ${read.size} variables in the code`)
  assert.equal(rows.filter((r, i) => rows.indexOf(r) !== i), [], 'a variable with two rows')
  assert.equal([...read].filter((v) => !rows.includes(v)).sort(), [], 'read by the code, missing from the README table')
  assert.equal(rows.filter((v) => !read.has(v)).sort(), [], 'in the README table, read by nothing')
})

test('the reference variables Carrel ignores are listed in the README and read nowhere', () => {
  const ignored = Object.values(IGNORED_REFERENCE_VARIABLES).flat()
  const listed = section('### Coming from the reference PDS')
  const read = variablesRead()
  for (const name of ignored) {
    assert.ok(listed.includes(`\`${name}\``), `${name} is not in the README's list of ignored variables`)
    assert.not.ok(read.has(name), `${name} is read by the code but listed as ignored`)
    assert.not.ok(tableVariables().includes(name), `${name} is both ignored and in the table`)
  }
  assert.is(new Set(ignored).size, ignored.length, 'a variable listed twice')
  // and the list names nothing else: a variable Carrel has started to read leaves it
  const listItems = listed.split('\n').filter((l) => l.startsWith('- ')).join('\n')
  const listedNames = [...listItems.matchAll(/`((?:PDS|LOG)_[A-Z0-9_]+)`/g)].map((m) => m[1]!)
  for (const name of listedNames) assert.ok(ignored.includes(name), `${name} is in the README's list of ignored variables but not in IGNORED_REFERENCE_VARIABLES`)
})

test('DEVELOPERS.md keeps no second table: it points to the README', () => {
  const dev = readFileSync(join(root, 'DEVELOPERS.md'), 'utf8')
  assert.ok(dev.includes('README.md#configuration'))
  assert.not.match(dev, /^\| Variable \|/m)
})

test('the check itself: it finds variables in code and rows in a table', () => {
  assert.ok(variablesRead().has('PDS_HOSTNAME'))
  assert.ok(variablesRead().has('PDS_JWT_SECRET'), 'the secrets, read by name')
  assert.ok(variablesRead().has('LOG_ENABLED'))
  assert.ok(tableVariables().includes('PDS_PORT'))
})

test.run()
