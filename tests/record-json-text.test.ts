// The changes feed writes stored records as JSON text straight from their DAG-CBOR bytes
// (src/repo/record-json-text.ts). It must say what the library path says
// (@atproto/lex-cbor decode, lexToJson, JSON.stringify) for every value, and leave to the
// library what it does not handle. Random values come from the seeded generator: a failure
// prints TEST_SEED, and TEST_SEED=<n> runs the same values again.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decode as lexCborDecode, encode as lexCborEncode } from '@atproto/lex-cbor'
import { lexToJson, type LexValue } from '@atproto/lexicon'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cborJsonText, JsonBytes, writeRecordJson } from '../src/repo/record-json-text.ts'
import { recordBytesToJson } from '../src/repo/record-json.ts'
import { randomMap, randomValue, Rng, testSeed } from './_random-data.ts'

/** JSON text with every object's keys sorted: key order is not part of JSON's meaning. */
function canonical(text: string): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]))
        : v
  return JSON.stringify(sort(JSON.parse(text)))
}

function recordJsonText(bytes: Uint8Array): string {
  const out = new JsonBytes()
  out.ascii('[')
  writeRecordJson(out, bytes)
  out.ascii(']')
  // written between other JSON, as a page writes it: nothing of a failed attempt is left over
  const text = out.toBuffer().toString('utf8')
  assert.ok(text.startsWith('[') && text.endsWith(']'))
  return text.slice(1, -1)
}

const libraryText = (bytes: Uint8Array) => JSON.stringify(lexToJson(lexCborDecode(bytes) as LexValue))

function outcome(fn: () => string): { json: string } | { threw: true } {
  try {
    return { json: canonical(fn()) }
  } catch {
    return { threw: true }
  }
}

test('the interop data-model fixtures: the fixture JSON', () => {
  const path = join(import.meta.dirname, 'fixtures', 'interop', 'data-model', 'data-model-fixtures.json')
  const fixtures = JSON.parse(readFileSync(path, 'utf8')) as { json: unknown; cbor_base64: string }[]
  assert.ok(fixtures.length > 0)
  for (const f of fixtures) {
    const text = cborJsonText(Buffer.from(f.cbor_base64, 'base64'))
    assert.ok(text !== undefined, 'handled without the library')
    assert.is(canonical(text!), canonical(JSON.stringify(f.json)))
  }
})

test('thousands of random values and records, as the library path', () => {
  const seed = testSeed()
  console.log(`random values: TEST_SEED=${seed}`)
  const rng = new Rng(seed)
  const opts = { lex: true, maxDepth: 5, maxBytes: 300, dollarKeys: true, protoKey: false }
  for (let i = 0; i < 5000; i++) {
    const value = i % 3 === 0 ? randomValue(rng, opts) : randomMap(rng, opts)
    const bytes = lexCborEncode(value as never)
    const text = cborJsonText(bytes)
    assert.ok(text !== undefined, `value ${i} handled without the library (TEST_SEED=${seed})`)
    assert.is(canonical(text!), canonical(JSON.stringify(lexToJson(value as LexValue))), `value ${i} (TEST_SEED=${seed})`)
    if (i % 3 !== 0) {
      const record = lexCborEncode({ ...(value as object), $type: 'com.example.record' } as never)
      assert.is(
        canonical(recordJsonText(record)),
        canonical(JSON.stringify(lexToJson({ ...(value as object), $type: 'com.example.record' } as LexValue))),
        `record ${i} (TEST_SEED=${seed})`,
      )
    }
  }
})

test('strings that JSON escapes: every ASCII character, quotes, backslashes, and beyond ASCII', () => {
  const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i))
  const others = ['"', '\\', '\\"', '\u2028\u2029', 'é', '日本語', '😀', 'a"b\\c\u0000d\u001fe\u007f', '\ufeff', '\uffff']
  const value: Record<string, unknown> = { $type: 'com.example.record' }
  for (const s of [...ascii, ...others]) value[`k${s}`] = s
  value['\ufeffleading BOM'] = '\ufeff\ufeffBOM twice'
  value.all = ascii.join('')
  value.list = others
  const bytes = lexCborEncode(value as never)
  // the oracle is the value as written: the library's decoder drops a leading U+FEFF from
  // every string (through TextDecoder), which is why records are not served through it
  assert.is(canonical(cborJsonText(bytes)!), canonical(JSON.stringify(value)))
  assert.is(canonical(recordJsonText(bytes)), canonical(JSON.stringify(value)))
  assert.is.not(canonical(libraryText(bytes)), canonical(JSON.stringify(value)), 'the library path still drops leading BOMs')
  const bom = recordJsonText(lexCborEncode({ $type: 'com.example.record', '\ufeffk': '\ufeffv' } as never))
  assert.equal(JSON.parse(bom), { $type: 'com.example.record', '\ufeffk': '\ufeffv' })
  // the escapes are JSON.stringify's own, character for character
  const one = lexCborEncode({ s: ascii.join('') + others.join('') } as never)
  assert.is(cborJsonText(one), libraryText(one))
})

test('strings the page writes itself (revs, CIDs, keys, cursors) are JSON.stringify strings', () => {
  const strings = ['', 'a', '3jzfcijpj2z2a', 'app.carrel.library.book', 'a"b', 'a\\b', '\u0000', '\u007f', 'é', '😀', '\ud800', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(500) + '"']
  for (const s of strings) {
    const out = new JsonBytes()
    out.string(s)
    assert.is(out.toBuffer().toString('utf8'), JSON.stringify(s), JSON.stringify(s))
  }
})

test('what the writer never stores is left to the library, which decides as before', () => {
  const key = [0x61, 0x61] // "a"
  const cases: [string, number[]][] = [
    ['a float', [0xa1, ...key, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]],
    ['an indefinite-length map', [0xbf, ...key, 0x01, 0xff]],
    ['a tag other than 42', [0xa1, ...key, 0xc1, 0x01]],
    ['an integer past 2^53', [0xa1, ...key, 0x1b, 0x00, 0x40, 0, 0, 0, 0, 0, 0]],
    ['a key that is not a string', [0xa1, 0x01, 0x02]],
    ['truncated', [0xa2, ...key, 0x01]],
    ['trailing bytes', [0xa1, ...key, 0x01, 0x00]],
    ['undefined', [0xa1, ...key, 0xf7]],
    ['text that is not UTF-8', [0xa1, ...key, 0x62, 0xff, 0xfe]],
    ['a key that is not UTF-8', [0xa1, 0x61, 0xc3, 0x01]],
    ['a CID link without the 0x00 prefix', [0xa1, ...key, 0xd8, 0x2a, 0x42, 0x01, 0x71]],
    ['a CID link that is not a CID', [0xa1, ...key, 0xd8, 0x2a, 0x43, 0x00, 0x01, 0x71]],
  ]
  for (const [name, bytes] of cases) {
    const input = new Uint8Array(bytes)
    assert.is(cborJsonText(input), undefined, `${name}: not handled here`)
    const library = outcome(() => JSON.stringify(recordBytesToJson(input)))
    assert.equal(outcome(() => recordJsonText(input)), library, `${name}: as the library decides`)
  }
  // a value that is not a map is not a record: the library refuses it, as before
  const array = new Uint8Array([0x83, 0x01, 0x02, 0x03])
  assert.is(cborJsonText(array), '[1,2,3]')
  assert.equal(outcome(() => recordJsonText(array)), { threw: true })
  assert.equal(outcome(() => JSON.stringify(recordBytesToJson(array))), { threw: true })
})

test.run()
