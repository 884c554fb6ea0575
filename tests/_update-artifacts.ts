// Real binaries for the update tests and `npm run bench -- updates`, made here and now:
// - programBuilds: two builds of a small program, as V8 startup snapshots (`node --build-snapshot`,
//   ~5.5 MB each); the second differs by a version string and one expression, and its heap layout
//   moves accordingly, as a recompiled binary's does;
// - sourceTarballs: uncompressed tarballs of this checkout's src/ and lexicons/, the second with a
//   few files edited (a line changed, a function added, a file appended to);
// - largeArtifacts: a tarball of files from node_modules (native executables and addons, JS
//   bundles, source maps) of a given size, and a second with edits totalling a given fraction of
//   it (half overwriting bytes, half inserting, with bytes of other real files). Written to disk a
//   file at a time.
import { spawnSync } from 'node:child_process'
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { join, relative } from 'node:path'
import { mulberry32 } from './_random-data.ts'

const root = join(import.meta.dirname, '..')

/** Two builds of a small program as V8 startup snapshot blobs; returns their paths. */
export function programBuilds(dir: string, books = 2000): { v1: string; v2: string } {
  const program = (version: string, pages: string) => `
const books = []
for (let i = 0; i < ${books}; i++) books.push({ title: 'Book ' + i, pages: ${pages} })
globalThis.library = { version: '${version}', books, find: (t) => books.find((b) => b.title === t) }
require('v8').startupSnapshot.setDeserializeMainFunction(() => console.log(globalThis.library.version))
`
  const build = (name: string, source: string) => {
    const js = join(dir, `${name}.js`)
    const blob = join(dir, `${name}.blob`)
    writeFileSync(js, source)
    const res = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', js], { encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`snapshot build failed: ${res.stderr}`)
    return blob
  }
  return { v1: build('program-1.0.0', program('1.0.0', 'i * 3')), v2: build('program-1.0.1', program('1.0.1', 'i * 3 + 1')) }
}

/** A ustar header block for a regular file. */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512)
  const field = (value: string, offset: number, length: number) => h.write(value, offset, length, 'utf8')
  const octal = (n: number, offset: number, length: number) => field(n.toString(8).padStart(length - 1, '0'), offset, length - 1)
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 1 - Math.max(0, Buffer.byteLength(name) - 100 - 1))
    field(name.slice(cut + 1), 0, 100)
    field(name.slice(0, cut), 345, 155)
  } else field(name, 0, 100)
  octal(0o644, 100, 8)
  octal(0, 108, 8)
  octal(0, 116, 8)
  octal(size, 124, 12)
  octal(1_700_000_000, 136, 12)
  h.fill(' ', 148, 156)
  field('0', 156, 1)
  field('ustar\u000000', 257, 8)
  let sum = 0
  for (const b of h) sum += b
  field(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8)
  return h
}

/** Writes a tar of `entries` to `path`, reading each entry's bytes only when it is written. */
export function writeTar(path: string, entries: { name: string; data: () => Uint8Array }[]): number {
  const fd = openSync(path, 'w')
  let size = 0
  const put = (b: Uint8Array) => {
    writeSync(fd, b)
    size += b.length
  }
  try {
    for (const e of entries) {
      const data = e.data()
      put(tarHeader(e.name, data.length))
      put(data)
      if (data.length % 512) put(Buffer.alloc(512 - (data.length % 512)))
    }
    put(Buffer.alloc(1024))
  } finally {
    closeSync(fd)
  }
  return size
}

/** Regular files under `dir`, in name order, without following links. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name)
      const st = lstatSync(p)
      if (st.isDirectory()) return name === '.cache' || name === '.bin' ? [] : filesUnder(p)
      return st.isFile() ? [p] : []
    })
}

/** Tarballs of src/ and lexicons/: the second with three files edited. */
export function sourceTarballs(dir: string): { v1: string; v2: string } {
  const files = [...filesUnder(join(root, 'src')), ...filesUnder(join(root, 'lexicons'))]
  const edits: Record<string, (s: string) => string> = {
    'src/config.ts': (s) => s.replace("const VERSION = '0.1.0'", "const VERSION = '0.1.1'"),
    'src/logger.ts': (s) => `${s}\n/** Added in 0.1.1. */\nexport function describeLevel(level: string): string {\n  return \`log level \${level}\`\n}\n`,
    'src/xrpc/router.ts': (s) => s.replace('is registered twice', 'was registered twice'),
  }
  const make = (name: string, edited: boolean) => {
    const path = join(dir, name)
    writeTar(
      path,
      files.map((f) => {
        const rel = relative(root, f)
        return { name: `carrel/${rel}`, data: () => (edited && edits[rel] ? Buffer.from(edits[rel](readFileSync(f, 'utf8'))) : readFileSync(f)) }
      }),
    )
    return path
  }
  return { v1: make('source-1.0.0.tar', false), v2: make('source-1.0.1.tar', true) }
}

/**
 * A tarball of node_modules files of about `bytes` (the largest files first: executables, addons
 * and bundles, then the rest in name order), and a second with edits totalling `changeFraction` of
 * it. Returns the paths and the number of bytes edited.
 */
export function largeArtifacts(dir: string, bytes: number, changeFraction: number): { v1: string; v2: string; changedBytes: number } {
  const all = filesUnder(join(root, 'node_modules')).map((path) => ({ path, size: lstatSync(path).size }))
  const seen = new Set<string>()
  const picked: typeof all = []
  let total = 0
  // a few big binaries and bundles first (as an application build has), then files in name order
  const big = all.filter((f) => f.size > 1_000_000 && /(\.node|esbuild|\.js)$/.test(f.path)).slice(0, 8)
  for (const f of [...big, ...all]) {
    if (total >= bytes) break
    const key = `${f.size}:${f.path.split('/').pop()}`
    if (seen.has(key) || f.size === 0) continue
    seen.add(key)
    picked.push(f)
    total += f.size + 512
  }
  const donors = all.filter((f) => !seen.has(`${f.size}:${f.path.split('/').pop()}`) && f.size > 20_000)
  const random = mulberry32(0x5eed) // seeded: the same artifacts every time
  const budget = Math.round(total * changeFraction)
  // ~12 edits over files picked at random (weighted by size), each of about budget / 12 bytes
  const editsByFile = new Map<number, { at: number; insert: boolean; bytes: Buffer }[]>()
  let changed = 0
  for (let k = 0; changed < budget; k++) {
    const target = Math.floor(random() * total)
    let acc = 0
    const index = picked.findIndex((f) => (acc += f.size + 512) > target)
    const file = picked[index]!
    const length = Math.min(Math.ceil(budget / 12), budget - changed, Math.max(1, file.size - 1))
    const donor = readFileSync(donors[Math.floor(random() * donors.length)]!.path)
    const from = Math.floor(random() * Math.max(1, donor.length - length))
    const edit = { at: Math.floor(random() * Math.max(1, file.size - length)), insert: k % 2 === 1, bytes: donor.subarray(from, from + length) }
    changed += edit.bytes.length
    editsByFile.set(index, [...(editsByFile.get(index) ?? []), edit])
  }
  const entries = (edited: boolean) =>
    picked.map((f, i) => ({
      name: `app/${relative(join(root, 'node_modules'), f.path)}`,
      data: () => {
        let data = readFileSync(f.path)
        if (!edited) return data
        // later offsets first, so that an insertion does not move the places of the others
        for (const e of [...(editsByFile.get(i) ?? [])].sort((a, b) => b.at - a.at)) {
          data = e.insert
            ? Buffer.concat([data.subarray(0, e.at), e.bytes, data.subarray(e.at)])
            : Buffer.concat([data.subarray(0, e.at), e.bytes, data.subarray(e.at + e.bytes.length)])
        }
        return data
      },
    }))
  const v1 = join(dir, 'large-1.0.0.tar')
  const v2 = join(dir, 'large-1.0.1.tar')
  writeTar(v1, entries(false))
  writeTar(v2, entries(true))
  return { v1, v2, changedBytes: changed }
}
