// Our DAG-CBOR writer (src/dag-cbor.ts) must give exactly the bytes of the generic encoder
// (@atproto/lex-cbor) for every value, taking its fallback where it does not handle one, whatever
// values it encoded before (its key-order cache). The random values come from a seeded generator:
// a failure prints TEST_SEED, and TEST_SEED=<n> runs the same values again.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { cborEncode as commonCborEncode } from '@atproto/common'
import { encode as lexCborEncode } from '@atproto/lex-cbor'
import { BlobRef, jsonToLex } from '@atproto/lexicon'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cidForCborBytes } from '../src/repo/cid.ts'
import { encodeDagCbor } from '../src/dag-cbor.ts'
import { DataModelError, jsonToLexStrict } from '../src/repo/data-model.ts'
import { randomMap, randomValue, Rng, testSeed } from './_random-data.ts'
import { assertBytes } from './_util.ts'

const dataModel = join(import.meta.dirname, 'fixtures', 'interop', 'data-model')

function assertSame(value: unknown, label: string) {
  assertBytes(encodeDagCbor(value), lexCborEncode(value as never), label)
}

test('the interop data-model fixtures: the fixture bytes and CIDs', () => {
  const fixtures = JSON.parse(readFileSync(join(dataModel, 'data-model-fixtures.json'), 'utf8')) as { json: unknown; cbor_base64: string; cid: string }[]
  assert.ok(fixtures.length > 0)
  for (const f of fixtures) {
    // as the write path converts a record (blob refs stay plain objects)
    const bytes = encodeDagCbor(jsonToLexStrict(f.json))
    assertBytes(bytes, Buffer.from(f.cbor_base64, 'base64'), 'fixture')
    assert.is(cidForCborBytes(bytes).toString(), f.cid)
  }
  const valid = JSON.parse(readFileSync(join(dataModel, 'data-model-valid.json'), 'utf8')) as { note: string; json: unknown }[]
  for (const v of valid) {
    assertSame(jsonToLexStrict(v.json), v.note)
    assertSame(jsonToLex(v.json as never), v.note)
  }
})

const cid = cidForCborBytes(lexCborEncode({ a: 1 }))

test('a key with a NUL in it never changes how another key list is encoded', () => {
  const like = { $type: 'app.bsky.feed.like', subject: { uri: 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l7u4hzxkx22c', cid: cid.toString() }, createdAt: '2026-01-01T00:00:00.000Z' }
  const hostile = { $type: 'com.example.thing', x: { 'uri\u0000cid': 'zz' } }
  // a record with more distinct shapes than any cache holds first, so nothing is cached
  const flush = { many: Array.from({ length: 20_000 }, (_, i) => ({ [`f${i}`]: i })) }
  for (const order of [[flush, hostile, like], [flush, like, hostile], [flush, hostile, like, hostile, like]]) {
    for (const value of order) assertSame(value, JSON.stringify(Object.keys(value)))
  }
  // each way round, and the lists NUL-joined into one key, or split at a NUL
  const lists = [['a', 'b'], ['a\u0000b'], ['a\u0000', 'b'], ['a', '\u0000b'], ['\u0000'], ['', ''], ['']]
  for (const first of lists) {
    assertSame({ [`g${first.length}`]: Object.fromEntries(first.map((k, i) => [k, i])) }, 'first')
    for (const other of lists) assertSame(Object.fromEntries(other.map((k, i) => [k, i])), JSON.stringify(other))
  }
})

test('thousands of random values, byte for byte as @atproto/lex-cbor', () => {
  const seed = testSeed()
  console.log(`random values: TEST_SEED=${seed}`)
  const rng = new Rng(seed)
  const opts = { lex: true, dollarKeys: true, protoKey: true, maxDepth: 6, maxBytes: 70_000 }
  const shapes = new Set<string>()
  const countShapes = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(countShapes)
    else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      shapes.add(JSON.stringify(Object.keys(v)))
      Object.values(v).forEach(countShapes)
    }
  }
  for (let i = 0; i < 6000; i++) {
    // mostly maps (records), and an undefined property now and then (left out by both)
    const value = i % 4 === 0 ? randomValue(rng, opts) : randomMap(rng, opts)
    if (i % 50 === 0 && value && typeof value === 'object' && !Array.isArray(value)) (value as Record<string, unknown>).gone = undefined
    assertSame(value, `value ${i} (TEST_SEED=${seed})`)
    countShapes(value)
  }
  // more distinct key lists than the writer's key-order cache holds (8192 trie nodes)
  assert.ok(shapes.size > 10_000, `${shapes.size} distinct shapes`)
  // every head width, both signs
  for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    assertSame(n, String(n))
    if (Number.isSafeInteger(-n - 1)) assertSame(-n - 1, String(-n - 1))
    assertSame(-n, String(-n))
  }
  // what only the fallback handles: non-ASCII keys, BlobRefs, nesting past the writer's depth
  assertSame({ blob: new BlobRef(cid as never, 'image/png', 1234) }, 'blob ref')
  assertSame({ ümlaut: 1, a: 2 }, 'non-ASCII key')
  let deep: unknown = 'bottom'
  for (let i = 0; i < 140; i++) deep = i % 2 ? [deep] : { d: deep }
  assertSame(deep, 'deeper than the writer goes')
  assert.throws(() => encodeDagCbor({ f: 1.5 }))
})

test('jsonToLexStrict refuses a __proto__ field name, naming its path', () => {
  // as a property of a plain object it would set the prototype: the field would vanish from the
  // encoded record while anything reading the value saw the fields under it
  for (const [json, path] of [
    ['{"a":{"__proto__":{"b":1},"c":2}}', 'a.__proto__'],
    ['{"$type":"app.bsky.feed.post","__proto__":{"text":"hi","createdAt":"2026-01-01T00:00:00Z"}}', '__proto__'],
    ['{"l":[{"__proto__":null}]}', 'l[0].__proto__'],
  ] as const) {
    assert.throws(() => jsonToLexStrict(JSON.parse(json)), (err: Error) => err instanceof DataModelError && err.message.startsWith(`${path}: `), json)
  }
  // the same names as values, or inside a longer key, are data like any other
  const ok = { s: '__proto__', '__proto__x': 1, x__proto__: [] }
  assertSame(jsonToLexStrict(ok), 'not a __proto__ key')
})

test('firehose frames and commits: as @atproto/common encodes them', () => {
  const body = {
    repo: 'did:plc:abcdefghijklmnopqrstuvwx',
    commit: cid,
    rev: '3kabcdefghijk',
    since: null,
    blocks: new Uint8Array(randomBytes(3000)),
    ops: [
      { action: 'create', path: 'app.bsky.feed.post/3kabcdefghijk', cid },
      { action: 'update', path: 'app.bsky.feed.post/3kabcdefghijl', cid, prev: cid },
      { action: 'delete', path: 'app.bsky.feed.post/3kabcdefghijm', cid: null, prev: cid },
    ],
    blobs: [],
    rebase: false,
    tooBig: false,
    prevData: cid,
    seq: 123456,
    time: new Date().toISOString(),
  }
  assertBytes(encodeDagCbor(body), commonCborEncode(body as never), 'commit event')
  assertBytes(encodeDagCbor({ op: 1, t: '#commit' }), commonCborEncode({ op: 1, t: '#commit' }), 'header')
  const commit = { did: body.repo, version: 3, rev: body.rev, prev: null, data: cid, sig: new Uint8Array(randomBytes(64)) }
  assertBytes(encodeDagCbor(commit), commonCborEncode(commit as never), 'commit')
})

test.run()
