// Our DAG-CBOR writer (src/dag-cbor.ts) must give exactly the bytes of the generic encoder
// (@atproto/lex-cbor) for every value, taking its fallback where it does not handle one.
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
import { jsonToLexStrict } from '../src/repo/data-model.ts'

const dataModel = join(import.meta.dirname, 'fixtures', 'interop', 'data-model')

/** Byte equality, reported as the first differing offset (a diff of large buffers is unreadable). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, label: string) {
  const a = Buffer.from(actual)
  const e = Buffer.from(expected)
  if (a.equals(e)) return
  let i = 0
  while (i < a.length && i < e.length && a[i] === e[i]) i++
  assert.unreachable(`${label}: ${a.length} bytes vs ${e.length} expected, first difference at ${i}: ${a.subarray(i, i + 8).toString('hex')} vs ${e.subarray(i, i + 8).toString('hex')}`)
}

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

function randomValue(depth: number): unknown {
  const r = Math.random()
  if (depth > 3 || r < 0.35) {
    const kinds = [
      () => null,
      () => Math.random() < 0.5,
      () => Math.floor(Math.random() * 2 ** (Math.floor(Math.random() * 53))) * (Math.random() < 0.3 ? -1 : 1),
      () => randomBytes(Math.floor(Math.random() * 300)).toString('base64').slice(0, Math.floor(Math.random() * 300)),
      () => ['é', '☎', '😀', 'a\u0000b', ''][Math.floor(Math.random() * 5)].repeat(Math.floor(Math.random() * 50)),
      () => new Uint8Array(randomBytes(Math.floor(Math.random() * 70000 * (Math.random() < 0.05 ? 1 : 0.001)))),
      () => cid,
    ]
    return kinds[Math.floor(Math.random() * kinds.length)]()
  }
  if (r < 0.55) return Array.from({ length: Math.floor(Math.random() * 6) }, () => randomValue(depth + 1))
  const obj: Record<string, unknown> = {}
  const n = Math.floor(Math.random() * 10)
  for (let i = 0; i < n; i++) {
    const key = ['a', 'bb', 'text', 'createdAt', '$type', 'Z', 'aa', 'ab', 'ba', 'x'.repeat(30), 'ü', 'k' + i][Math.floor(Math.random() * 12)]
    obj[key] = Math.random() < 0.05 ? undefined : randomValue(depth + 1)
  }
  return obj
}

test('random values, including the ones it hands to the generic encoder', () => {
  for (let i = 0; i < 3000; i++) assertSame(randomValue(0), `random value ${i}`)
  // integers at every head width, both signs
  for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    assertSame(n, String(n))
    if (Number.isSafeInteger(-n - 1)) assertSame(-n - 1, String(-n - 1))
    assertSame(-n, String(-n))
  }
  // what only the fallback handles: floats, non-ASCII keys, BlobRefs
  assertSame({ blob: new BlobRef(cid as never, 'image/png', 1234) }, 'blob ref')
  assertSame({ ümlaut: 1, a: 2 }, 'non-ASCII key')
  assert.throws(() => encodeDagCbor({ f: 1.5 }))
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
