// Nothing in the project reads outside the checkout: a fresh clone must pass its own tests with
// nothing beside it. A static scan of src/, migrations/, tests/, scripts/ and bench/ for paths
// that climb above the project root (`join(import.meta.dirname, '..', '..', ...)`, a relative
// path to a sibling folder of the checkout from a file one level down) and for absolute paths into
// home or work folders.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = resolve(import.meta.dirname, '..')
const SCANNED = ['src', 'migrations', 'tests', 'scripts', 'bench']

function codeFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'fixtures' ? [] : codeFiles(path)
    return /\.(ts|mts|cts|js|mjs|cjs)$/.test(name) ? [path] : []
  })
}

const inside = (path: string) => path === root || path.startsWith(root + sep)

// what a file's own folder is called in code, and what the project root is called
const FILE_DIR = /^(import\.meta\.dirname|__dirname|dirname\(\s*fileURLToPath\(\s*import\.meta\.url\s*\)\s*\))$/
const ROOT = /^(root|packageRoot|projectRoot|process\.cwd\(\))$/
const ABSOLUTE = /^(\/(work|home|Users|root|mnt|srv|opt|media)(\/|$)|[A-Za-z]:\\)/

/** Paths in `code` (as the file at `file` would build them) that leave the project root. */
function escapes(file: string, code: string): string[] {
  const out: string[] = []
  const here = dirname(file)
  // join(base, 'a', '..', ...) and resolve(...): the string arguments that follow the base
  const call = /\b(?:join|resolve)\(\s*([^,()]*(?:\([^()]*(?:\([^()]*\))?[^()]*\))?)\s*((?:,\s*(['"])[^'"]*\3\s*)+),?\s*\)/g
  for (let m = call.exec(code); m; m = call.exec(code)) {
    const base = m[1]!.trim()
    const segments = [...m[2]!.matchAll(/(['"])([^'"]*)\1/g)].map((s) => s[2]!)
    if (!segments.some((s) => s.split(/[/\\]/).includes('..'))) continue
    const from = FILE_DIR.test(base) ? here : ROOT.test(base) ? root : undefined
    if (from === undefined) out.push(`${m[0]} (climbs from a base this check cannot place; build the path from the project root)`)
    else if (!inside(resolve(from, ...segments))) out.push(m[0])
  }
  // string literals: relative paths (import specifiers and file names, from the file's folder
  // or from the project root, the tests' working directory) and absolute ones
  const literal = /(['"`])((?:\.\.?\/|\/|[A-Za-z]:\\)[^'"`\s$]*)\1/g
  for (let m = literal.exec(code); m; m = literal.exec(code)) {
    const path = m[2]!
    if (ABSOLUTE.test(path)) out.push(m[0])
    else if (path.startsWith('.') && (!inside(resolve(here, path)) || !inside(resolve(root, path)))) {
      // an import specifier is resolved from the file alone
      const isImport = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\brequire\(\s*)$/.test(code.slice(Math.max(0, m.index - 20), m.index))
      if (!isImport || !inside(resolve(here, path))) out.push(m[0])
    }
  }
  return out
}

test('no file in src/, migrations/, tests/, scripts/ or bench/ reaches outside the checkout', () => {
  // this file is left out: its examples below are the very patterns it looks for
  const files = SCANNED.flatMap((d) => codeFiles(join(root, d))).filter((f) => f !== import.meta.filename)
  assert.ok(files.length > 80, `scanned ${files.length} files`)
  const found = files.flatMap((file) => escapes(file, readFileSync(file, 'utf8')).map((e) => `${relative(root, file)}: ${e}`))
  assert.equal(found, [])
})

test('the check itself: the ways out are caught, paths inside are not', () => {
  const testFile = join(root, 'tests', 'x.test.ts')
  const srcFile = join(root, 'src', 'db', 'index.ts')
  const caught = [
    "const interop = join(import.meta.dirname, '..', '..', 'beside', 'fixtures')",
    "const interop = join(\n  import.meta.dirname,\n  '..',\n  '..',\n  'beside',\n  'fixtures',\n)",
    "const dir = path.resolve(import.meta.dirname, '../../beside/fixtures')",
    "const migrations = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'migrations')",
    "const x = join(root, '..', 'beside')",
    "const x = join(someDir, '..', 'y')",
    "const fixtures = readFileSync('../beside/fixtures/mst/key_heights.json')",
    "import data from '../../beside/fixtures/data.json'",
    "const f = '/work/beside/fixtures/mst'",
    "const g = `/home/someone/fixtures`",
  ]
  for (const code of caught) assert.ok(escapes(testFile, code).length > 0, code)
  const fine = [
    "const interop = join(import.meta.dirname, 'fixtures', 'interop')",
    "const root = join(import.meta.dirname, '..')",
    "const entry = join(import.meta.dirname, '..', 'dist', 'src', 'index.js')",
    "import { startPds } from '../src/pds.ts'",
    "const data = join(dataDir, 'secrets', 'jwt-secret')",
    "const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')",
  ]
  for (const code of fine) assert.equal(escapes(testFile, code), [], code)
  assert.equal(escapes(srcFile, "const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations')"), [])
  assert.ok(escapes(srcFile, "import { x } from '../../../outside.ts'").length > 0)
})

test.run()
