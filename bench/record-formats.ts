// npm run bench -- record-formats: what the string-format check (src/repo/record-formats.ts) adds
// to a record write, in-process: microseconds per call of assertRecordFormats alone, of the
// lexicon validation it follows, and of the whole prepareRecordWrite, for a small post, a post
// with langs, facets and a reply, and a like. Each figure is the median of RUNS runs of
// BENCH_ITERATIONS calls, after as many calls of warm-up.
import type { Lexicons } from '@atproto/lexicon'
import { withoutStackTraces } from '../src/lexicon-validation.ts'
import { loadLexicons } from '../src/lexicons.ts'
import { jsonToLexStrict } from '../src/repo/data-model.ts'
import { prepareRecordWrite } from '../src/repo/prepare.ts'
import { assertRecordFormats } from '../src/repo/record-formats.ts'
import { microsPerCall } from './_server.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20000)

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const CID = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const POST_URI = `at://${DID}/app.bsky.feed.post/3jzfcijpj2z2a`
const NOW = '2024-05-06T07:08:09.123Z'

const RECORDS: Array<{ name: string; collection: string; record: Record<string, unknown> }> = [
  { name: 'small post', collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'bench post', createdAt: NOW } },
  {
    name: 'post: langs, facets, reply',
    collection: 'app.bsky.feed.post',
    record: {
      $type: 'app.bsky.feed.post',
      text: 'hello @someone see https://example.com',
      langs: ['en', 'pt-BR'],
      facets: [
        { index: { byteStart: 6, byteEnd: 14 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: DID }] },
        { index: { byteStart: 19, byteEnd: 38 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' }] },
      ],
      reply: { root: { uri: POST_URI, cid: CID }, parent: { uri: POST_URI, cid: CID } },
      createdAt: NOW,
    },
  },
  {
    name: 'like',
    collection: 'app.bsky.feed.like',
    record: { $type: 'app.bsky.feed.like', subject: { uri: POST_URI, cid: CID }, createdAt: NOW },
  },
]

const perCall = (fn: () => void) => microsPerCall(fn, RUNS, ITERATIONS)

function measure(lexicons: Lexicons, collection: string, json: Record<string, unknown>) {
  // as the XRPC layer hands records to the write path
  const record = jsonToLexStrict(json) as Record<string, unknown>
  return {
    formats: perCall(() => assertRecordFormats(lexicons, collection, record)),
    lexicon: perCall(() => withoutStackTraces(() => lexicons.assertValidRecord(collection, record))),
    prepare: perCall(() =>
      prepareRecordWrite(lexicons, { did: DID, action: 'create', collection, rkey: '3jzfcijpj2z2a', record, validate: undefined }),
    ),
  }
}

export default async function main(): Promise<void> {
  const { lexicons } = await loadLexicons()
  const rows = RECORDS.map((r) => ({ name: r.name, ...measure(lexicons, r.collection, r.record) }))
  const us = (n: number) => n.toFixed(2).padStart(8)
  console.log(`record-formats: µs per call, median of ${RUNS} runs of ${ITERATIONS}`)
  console.log(`${'record'.padEnd(28)} ${'formats'.padStart(8)} ${'lexicon'.padStart(8)} ${'prepare'.padStart(8)}  formats/prepare`)
  for (const r of rows) {
    console.log(`${r.name.padEnd(28)} ${us(r.formats)} ${us(r.lexicon)} ${us(r.prepare)}  ${((100 * r.formats) / r.prepare).toFixed(1)}%`)
  }
  console.log(JSON.stringify({ bench: 'record-formats', runs: RUNS, iterations: ITERATIONS, rows }))
}
