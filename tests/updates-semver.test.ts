// The update tables order releases by a key made from the `semver` package's parse
// (src/indexer/updates/semver.ts), because SQLite cannot call the package's compare. This checks
// that key against the package, the oracle: for every pair of many versions (curated edge cases
// and seeded random ones), the key's binary order is the package's precedence, equal keys mean
// equal precedence, and SQLite's ORDER BY of the keys is the package's sort. It also pins which
// strings are versions: exactly as written, and no number the package cannot compare exactly.
import Database from 'better-sqlite3'
import * as semver from 'semver'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { compareVersions, parseRunningVersion, parseVersion, versionKey } from '../src/indexer/updates/semver.ts'
import { mulberry32 } from './_random-data.ts'

test('a release version is a semantic version written exactly, without build metadata, with numbers the package compares exactly', () => {
  const accepted = ['0.0.0', '1.2.3', '10.20.30', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-0.3.7', '1.0.0-x.7.z.92', '1.0.0-x-y-z.--', '1.0.0-0a', '9007199254740991.0.0', '1.0.0-9007199254740990']
  const refused = [
    'v1.2.3', // the package takes a leading v
    ' 1.2.3', // and surrounding blanks
    '1.2.3 ',
    '=1.2.3',
    '1.2',
    '1.2.3.4',
    '01.2.3',
    '1.02.3',
    '1.2.3-01',
    '1.2.3-',
    '1.2.3-a..b',
    '1.2.3-a_b',
    '1.2.3+build.7', // '+' cannot be in a record key
    '9007199254740992.0.0', // beyond 2^53: the package refuses it
    '1.0.0-9007199254740991', // the package keeps it as a string and compares it as a rounded float
    '1.0.0-99999999999999999999',
  ]
  for (const v of accepted) assert.is(parseVersion(v)?.version, v, `${v} is a release version`)
  for (const v of refused) assert.is(parseVersion(v), undefined, `${JSON.stringify(v)} is not a release version`)
  // the package itself compares the last two as equal, which is why they are refused
  assert.is(semver.compare('1.0.0-99999999999999999998', '1.0.0-99999999999999999999'), 0)
})

test('a running version may carry build metadata, which takes no part in precedence', () => {
  const running = parseRunningVersion('2.1.0+build.7')
  assert.is(running?.version, '2.1.0')
  assert.is(versionKey(running!), versionKey(parseVersion('2.1.0')!))
  assert.is(parseRunningVersion('2.1.0-rc.1+exp.sha.5114f85')?.version, '2.1.0-rc.1')
  for (const v of ['v2.1.0+build.7', '2.1.0+', '2.1.0+a..b', '2.1.0 +b']) assert.is(parseRunningVersion(v), undefined, `${JSON.stringify(v)} is refused`)
})

function versions(): string[] {
  const numbers = [0, 1, 2, 9, 10, 11, 99, 100, 101, 1000, 123456789, 999999999999999, 1000000000000000, 9007199254740990]
  const identifiers = ['0', '1', '2', '9', '10', '11', '100', '9007199254740990', 'alpha', 'alpha-1', 'alpha1', 'alph', 'beta', 'rc', 'a', 'aa', 'A', 'Z', 'z', '-', '--', '0a', '1a', 'a0', 'x-y', 'rc-', 'r'.repeat(40)]
  const out = new Set<string>(['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'])
  for (const core of ['0.0.0', '1.0.0', '1.0.1', '1.1.0', '2.0.0', '10.0.0', '1.10.0', '1.0.10']) {
    out.add(core)
    for (const a of identifiers) {
      out.add(`${core}-${a}`)
      for (const b of ['0', '1', '10', 'a', 'beta', '-']) out.add(`${core}-${a}.${b}`)
    }
  }
  const next = mulberry32(0x5e5e) // seeded, so that a failure can be replayed
  const pick = <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]!
  const identifier = () => {
    if (next() < 0.4) return String(pick(numbers))
    const chars = '0123456789abcxyzABCXYZ-'
    let id = ''
    const length = 1 + Math.floor(next() * 6)
    for (let i = 0; i < length; i++) id += pick([...chars])
    return /^\d+$/.test(id) ? `${id}x` : id // a numeric one is made above, without leading zeros
  }
  while (out.size < 1500) {
    const core = [pick(numbers), pick(numbers), pick(numbers)].join('.')
    const count = Math.floor(next() * 4)
    out.add(count === 0 ? core : `${core}-${Array.from({ length: count }, identifier).join('.')}`)
  }
  return [...out]
}

test("the key's order is the package's precedence, pair by pair, and SQLite's ORDER BY of the keys is the package's sort", () => {
  const all = versions()
  const keyed = all.map((v) => {
    const parsed = parseVersion(v)
    assert.ok(parsed, `${v} parses`)
    const key = versionKey(parsed)
    return { v, parsed, key, bytes: Buffer.from(key) }
  })
  let pairs = 0
  for (const a of keyed) {
    for (const b of keyed) {
      const byKey = Math.sign(Buffer.compare(a.bytes, b.bytes))
      const byPackage = semver.compare(a.parsed, b.parsed)
      if (byKey !== byPackage) assert.unreachable(`${a.v} vs ${b.v}: key order ${byKey}, semver.compare ${byPackage}`)
      pairs++
    }
  }
  assert.is(pairs, all.length * all.length)
  assert.is(compareVersions('1.0.0-rc.1', '1.0.0'), -1)

  const db = new Database(':memory:')
  try {
    db.exec('CREATE TABLE v (version TEXT NOT NULL, version_key TEXT NOT NULL)')
    db.exec('CREATE INDEX v_key ON v (version_key)')
    const insert = db.prepare('INSERT INTO v VALUES (?, ?)')
    for (const { v, key } of keyed) insert.run(v, key)
    const byIndex = db.prepare<[], string>('SELECT version FROM v INDEXED BY v_key ORDER BY version_key').pluck().all()
    assert.equal(byIndex, semver.sort([...all]))
    // "newer than the device's version" as the query tables ask it: one range of the index
    const device = '1.0.0-beta.2'
    const newer = db.prepare<[string], string>('SELECT version FROM v INDEXED BY v_key WHERE version_key > ? ORDER BY version_key').pluck().all(versionKey(parseVersion(device)!))
    assert.equal(newer, semver.sort(all.filter((v) => semver.gt(v, device))))
  } finally {
    db.close()
  }
})

test.run()
