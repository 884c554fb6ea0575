// npm run bench -- dag-cbor: ns per encodeDagCbor call (src/dag-cbor.ts) for the values the write
// path encodes: a like, a post, a book record, a commit, a firehose #commit body, a 200-key
// object, nested arrays, and "many shapes" (the like's shape interleaved with 20,000 distinct
// object shapes, more than any key-order cache holds). In-process, no server. Each figure is the
// median of RUNS runs of about RUN_MS each (the call count is set from a warm-up of the same
// length); @atproto/lex-cbor's `encode` is timed on the same values for scale.
// BENCH_RUNS (9), BENCH_RUN_MS (100).
import { encode as lexCborEncode, type LexValue } from '@atproto/lex-cbor'
import { encodeDagCbor } from '../src/dag-cbor.ts'
import { cidForCborBytes } from '../src/repo/cid.ts'
import { median } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 9)
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 100)

const cid = cidForCborBytes(lexCborEncode({ bench: 1 }))
const did = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const createdAt = '2026-11-22T14:42:29.123Z'

// records as the write path holds them after jsonToLexStrict (key order as a client sends it)
const like = {
  $type: 'app.bsky.feed.like',
  subject: { uri: `at://${did}/app.bsky.feed.post/3l7u4hzxkx22c`, cid: cid.toString() },
  createdAt,
}

const post = {
  $type: 'app.bsky.feed.post',
  text: 'Reading the MST chapter again; the fanout of 4 finally makes sense. #atproto',
  createdAt,
  langs: ['en'],
  facets: [
    {
      index: { byteStart: 67, byteEnd: 75 },
      features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'atproto' }],
    },
  ],
  reply: {
    root: { uri: `at://${did}/app.bsky.feed.post/3l7u4hzxkx22c`, cid: cid.toString() },
    parent: { uri: `at://${did}/app.bsky.feed.post/3l7u4i2abc22d`, cid: cid.toString() },
  },
}

const book = {
  $type: 'app.carrel.library.book',
  title: 'The Left Hand of Darkness',
  authors: ['Ursula K. Le Guin'],
  identifiers: { isbn10: '0441478123', isbn13: '9780441478125' },
  publisher: 'Ace Books',
  publishedDate: '1969-03',
  language: 'en',
  pages: 304,
  cover: { $type: 'blob', ref: cid, mimeType: 'image/jpeg', size: 184_320 },
  tags: ['science fiction', 'classic', 'anthropology'],
  shelf: 'favourites',
  readingStatus: 'finished',
  rating: 5,
  progress: 100,
  notes: 'Gethen, shifgrethor, the ice. Re-read in winter.',
  createdAt,
  updatedAt: createdAt,
}

const commit = { did, version: 3, data: cid, rev: '3l7u4hzxkx22c', prev: null, sig: new Uint8Array(64).fill(7) }

const commitEvent = {
  seq: 1_234_567,
  rebase: false,
  tooBig: false,
  repo: did,
  commit: cid,
  rev: '3l7u4hzxkx22c',
  since: '3l7u4hzxkx22b',
  blocks: new Uint8Array(1200).fill(1),
  ops: [{ action: 'create', path: 'app.bsky.feed.like/3l7u4hzxkx22c', cid }],
  blobs: [],
  prevData: cid,
  time: createdAt,
}

const wide: Record<string, unknown> = {}
for (let i = 0; i < 200; i++) wide[`field${(i * 7919) % 200}`] = i % 3 === 0 ? `value ${i}` : i

const nestedArrays = {
  $type: 'com.example.matrix',
  rows: Array.from({ length: 16 }, (_, r) => Array.from({ length: 16 }, (_, c) => (r * 16 + c) % 5 === 0 ? [r, c, 'x'] : r * c)),
  points: Array.from({ length: 32 }, (_, i) => ({ x: i, y: -i - 1, label: `p${i}` })),
}

// 20,000 distinct shapes: each a small object whose keys no other uses, cycled with the like
const SHAPES = 20_000
const manyShapes = Array.from({ length: SHAPES }, (_, i) => ({ [`s${i}`]: 1, [`t${i}`]: 'x', createdAt }))

const cases: [string, () => unknown][] = [
  ['like', () => like],
  ['post', () => post],
  ['book', () => book],
  ['commit', () => commit],
  ['#commit body', () => commitEvent],
  ['200-key object', () => wide],
  ['nested arrays', () => nestedArrays],
]

function nsPerCall(encode: (v: unknown) => Uint8Array, next: (i: number) => unknown): number {
  const times: number[] = []
  let sink = 0
  // warm-up, which also sets the number of calls per run
  let calls = 0
  const warmStart = performance.now()
  while (performance.now() - warmStart < RUN_MS) {
    for (let j = 0; j < 100; j++) sink += encode(next(calls++)).length
  }
  const iterations = calls
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) sink += encode(next(i)).length
    times.push(Number(process.hrtime.bigint() - start) / iterations)
  }
  if (sink === 0) throw new Error('nothing encoded')
  return median(times)
}

export default async function run(): Promise<void> {
  const ours = (v: unknown) => encodeDagCbor(v)
  const lex = (v: unknown) => lexCborEncode(v as LexValue)
  const rows: { name: string; ours: number; lex: number }[] = []
  for (const [name, value] of cases) {
    const v = value()
    rows.push({ name, ours: nsPerCall(ours, () => v), lex: nsPerCall(lex, () => v) })
  }
  // every other call a like, the rest walking the distinct shapes
  const interleaved = (i: number) => (i % 2 === 0 ? like : manyShapes[(i >> 1) % SHAPES])
  rows.push({ name: `many shapes (${SHAPES})`, ours: nsPerCall(ours, interleaved), lex: nsPerCall(lex, interleaved) })

  console.log(`\nencodeDagCbor, ns per call (median of ${RUNS} runs of ~${RUN_MS} ms; @atproto/lex-cbor for scale)`)
  console.log(`${'value'.padEnd(24)}${'ours'.padStart(10)}${'lex-cbor'.padStart(10)}${'ratio'.padStart(8)}`)
  for (const r of rows) {
    console.log(`${r.name.padEnd(24)}${r.ours.toFixed(0).padStart(10)}${r.lex.toFixed(0).padStart(10)}${(r.lex / r.ours).toFixed(1).padStart(8)}`)
  }
  console.log(JSON.stringify({ bench: 'dag-cbor', runs: RUNS, runMs: RUN_MS, nsPerCall: Object.fromEntries(rows.map((r) => [r.name, { ours: +r.ours.toFixed(0), lexCbor: +r.lex.toFixed(0) }])) }))
}
