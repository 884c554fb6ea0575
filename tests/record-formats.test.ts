// String formats in validated records (datetime, language, cid, at-uri, did, handle, nsid, tid,
// record-key, uri, at-identifier) are checked with the spec's syntax rules: every line of the
// interop syntax fixtures goes through a record field of that format, through the running server
// where a record lexicon the server knows has such a field, and in-process against the interop
// catalog lexicon (`example.lexicon.record`, which has every format) for all of them.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lexicons, type LexiconDoc } from '@atproto/lexicon'
import { InvalidRequestError, XRPCError } from '@atproto/xrpc-server'
import { CID } from 'multiformats/cid'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { blobConstraints, mimeAccepted, type BlobConstraint } from '../src/repo/blob-lexicon.ts'
import { loadLexicons } from '../src/lexicons.ts'
import { DataModelError, jsonToLexStrict } from '../src/repo/data-model.ts'
import { prepareRecordWrite } from '../src/repo/prepare.ts'
import { assertRecordFormats } from '../src/repo/record-formats.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { expectXrpcError, rawXrpc, readFixtureLines } from './_util.ts'

const interop = join(import.meta.dirname, 'fixtures', 'interop')
const syntaxDir = join(interop, 'syntax')

/** Fixture file prefix → the catalog's field in `formats` (and the lexicon format it has). */
const FIXTURE_FORMATS = {
  atidentifier: 'at-identifier',
  aturi: 'at-uri',
  cid: 'cid',
  datetime: 'datetime',
  did: 'did',
  handle: 'handle',
  language: 'language',
  nsid: 'nsid',
  recordkey: 'record-key',
  tid: 'tid',
  uri: 'uri',
} as const
type FixtureName = keyof typeof FIXTURE_FORMATS

function validLines(name: FixtureName): string[] {
  return readFixtureLines(join(syntaxDir, `${name}_syntax_valid.txt`))
}

/** `*_syntax_invalid.txt` plus `*_parse_invalid.txt` where there is one. */
function invalidLines(name: FixtureName): string[] {
  const parse = join(syntaxDir, `${name}_parse_invalid.txt`)
  return [
    ...readFixtureLines(join(syntaxDir, `${name}_syntax_invalid.txt`)),
    ...(existsSync(parse) ? readFixtureLines(parse) : []),
  ]
}

/**
 * Valid fixture lines that @atproto/lexicon's own format check refuses before ours runs (the
 * reference PDS, which uses the same library, refuses them too). Its `cid` check parses the
 * string with multiformats, which only knows base32, base36 and base58btc and wants a CID that
 * decodes; the fixtures' syntax rule accepts any multibase-looking string. Its `uri` check wants
 * the scheme to be word characters, where RFC 3986 also allows `-` and `.`.
 */
const REFUSED_BY_LEXICON_LIBRARY: Partial<Record<FixtureName, string[]>> = {
  cid: [
    'mBcDxtdWx0aWhhc2g+',
    'z7x3CtScH765HvShXT',
    '7134036155352661643226414134664076',
    'f017012202c5f688262e0ece8569aa6f94d60aad55ca8d9d83734e4a7430d0cff6588ec2b',
  ],
  uri: ['content-type:text/plan', 'microsoft.windows.camera:thing'],
}
const LIBRARY_MESSAGES: Partial<Record<FixtureName, string>> = { cid: 'must be a cid string', uri: 'must be a uri' }

function acceptedLines(name: FixtureName): string[] {
  const refused = new Set(REFUSED_BY_LEXICON_LIBRARY[name] ?? [])
  return validLines(name).filter((l) => !refused.has(l))
}

const show = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s)

// ---------------------------------------------------------------------------------------------
// in-process, against the interop catalog lexicon

const CATALOG = 'example.lexicon.record'

function catalogLexicons(): Lexicons {
  const doc = JSON.parse(readFileSync(join(interop, 'lexicon', 'catalog', 'record.json'), 'utf8')) as LexiconDoc
  return new Lexicons([doc])
}

/**
 * A record write as createRecord runs it: the JSON converted with the data model's rules (a
 * refusal there is InvalidRecord, as the XRPC layer answers it for a record), then prepared.
 */
function catalogWrite(lexicons: Lexicons, json: Record<string, unknown>) {
  let record: unknown
  try {
    record = jsonToLexStrict(json)
  } catch (err) {
    if (err instanceof DataModelError) throw new InvalidRequestError(`Invalid record: ${err.message}`, 'InvalidRecord')
    throw err
  }
  return prepareRecordWrite(lexicons, {
    did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    action: 'create',
    collection: CATALOG,
    rkey: 'demo',
    record,
    validate: undefined,
  })
}

/** The error `fn` throws, or undefined when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return undefined
}

/** Why `err` is not a 400 InvalidRecord naming `path`, or undefined when it is one. */
function notInvalidRecordAt(err: unknown, path: string): string | undefined {
  if (!(err instanceof XRPCError)) return err === undefined ? 'accepted' : `threw ${String(err)}`
  if (err.statusCode !== 400 || err.error !== 'InvalidRecord') return `${err.statusCode} ${err.error}: ${err.message}`
  if (!err.message.includes(`${path} must be`)) return `message does not name ${path}: ${err.message}`
  return undefined
}

for (const name of Object.keys(FIXTURE_FORMATS) as FixtureName[]) {
  test(`${FIXTURE_FORMATS[name]}: our check agrees with every line of the ${name} syntax fixtures`, () => {
    const lexicons = catalogLexicons()
    const record = (v: string) => ({ $type: CATALOG, integer: 1, formats: { [name]: v } })
    const wrong: string[] = []
    for (const line of validLines(name)) {
      const err = thrown(() => assertRecordFormats(lexicons, CATALOG, record(line)))
      if (err) wrong.push(`valid ${show(line)} refused: ${(err as Error).message}`)
    }
    for (const line of invalidLines(name)) {
      const why = notInvalidRecordAt(thrown(() => assertRecordFormats(lexicons, CATALOG, record(line))), `formats/${name}`)
      if (why) wrong.push(`invalid ${show(line)}: ${why}`)
    }
    assert.equal(wrong, [])
  })

  test(`${FIXTURE_FORMATS[name]}: a record write refuses every invalid ${name} line and accepts the valid ones`, () => {
    const lexicons = catalogLexicons()
    const record = (v: string) => ({ integer: 1, formats: { [name]: v } })
    const wrong: string[] = []
    for (const line of acceptedLines(name)) {
      const err = thrown(() => catalogWrite(lexicons, record(line)))
      if (err) wrong.push(`valid ${show(line)} refused: ${(err as Error).message}`)
    }
    for (const line of invalidLines(name)) {
      const why = notInvalidRecordAt(thrown(() => catalogWrite(lexicons, record(line))), `formats/${name}`)
      if (why) wrong.push(`invalid ${show(line)}: ${why}`)
    }
    for (const line of REFUSED_BY_LEXICON_LIBRARY[name] ?? []) {
      const err = thrown(() => catalogWrite(lexicons, record(line)))
      const why = notInvalidRecordAt(err, `formats/${name}`)
      if (why) wrong.push(`library-refused ${show(line)}: ${why}`)
      else if (!(err as Error).message.includes(LIBRARY_MESSAGES[name]!)) {
        wrong.push(`library-refused ${show(line)} was refused for another reason: ${(err as Error).message}`)
      }
    }
    assert.equal(wrong, [])
  })
}

test('validate:false runs no format checks (the caller asked for no schema checks)', () => {
  const lexicons = catalogLexicons()
  const write = prepareRecordWrite(lexicons, {
    did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    action: 'create',
    collection: CATALOG,
    rkey: 'demo',
    record: jsonToLexStrict({ integer: 1, formats: { datetime: '1985-04-12T23:20:50.123', language: 'jaja' } }),
    validate: false,
  })
  assert.is(write.validationStatus, undefined)
})

// the record-data fixtures use a dag-cbor CID for their blobs; our data model wants blob refs
// to use the raw codec (spec: blobs are `raw` 0x55), so those records are tried with it too
function withRawBlobCids(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withRawBlobCids)
  if (value === null || typeof value !== 'object') return value
  const obj = value as Record<string, any>
  if (obj.$type === 'blob' && typeof obj.ref?.$link === 'string') {
    const cid = CID.parse(obj.ref.$link)
    return { ...obj, ref: { $link: CID.createV1(0x55, cid.multihash).toString() } }
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, withRawBlobCids(v)]))
}

/** The value at a blob constraint's path (`<collection>/a/0/b`). */
function blobAt(record: unknown, path: string): { mimeType: string; size: number } {
  let value: any = record
  for (const key of path.split('/').slice(1)) value = value[key]
  return value
}

function meetsConstraint(record: unknown, rule: BlobConstraint): boolean {
  const blob = blobAt(record, rule.path)
  return mimeAccepted(blob.mimeType, rule.accept) && (rule.maxSize === undefined || blob.size <= rule.maxSize)
}

type RecordDataCase = { name: string; rkey: string; data: Record<string, unknown> }
const recordData = (file: string): RecordDataCase[] =>
  JSON.parse(readFileSync(join(interop, 'lexicon', file), 'utf8')) as RecordDataCase[]

test('record-data-valid.json: every record is accepted (blob refs with the raw codec)', () => {
  const lexicons = catalogLexicons()
  for (const c of recordData('record-data-valid.json')) {
    const write = catalogWrite(lexicons, withRawBlobCids(c.data) as Record<string, unknown>)
    assert.is(write.validationStatus, 'valid', c.name)
    // the blob fields' accept and maxSize are met by what each blob ref declares
    for (const rule of blobConstraints(lexicons, CATALOG, write.record)) {
      assert.ok(meetsConstraint(write.record, rule), `${c.name}: ${rule.path}`)
    }
  }
  // as published, with dag-cbor blob CIDs, only the data model's raw-codec rule refuses "full"
  const full = recordData('record-data-valid.json').find((c) => c.name === 'full')!
  const err = thrown(() => catalogWrite(lexicons, full.data))
  assert.instance(err, XRPCError)
  assert.match((err as Error).message, /blob ref must use the raw codec/)
})

test('record-data-invalid.json: every record is refused with 400 InvalidRecord', () => {
  const lexicons = catalogLexicons()
  const wrong: string[] = []
  for (const c of recordData('record-data-invalid.json')) {
    for (const data of [c.data, withRawBlobCids(c.data) as Record<string, unknown>]) {
      let write: ReturnType<typeof catalogWrite>
      try {
        write = catalogWrite(lexicons, data)
      } catch (err) {
        if (!(err instanceof XRPCError && err.statusCode === 400 && err.error === 'InvalidRecord')) wrong.push(`${c.name}: ${err}`)
        continue
      }
      // a blob's type and size are checked when the write commits (blob-service), against the
      // uploaded blob, which must match what the record declares: that rule refuses these
      const refusedAtCommit = blobConstraints(lexicons, CATALOG, write.record).some((rule) => !meetsConstraint(write.record, rule))
      if (!refusedAtCommit) wrong.push(`${c.name}: accepted`)
    }
  }
  assert.equal(wrong, [])
})

test('blob constraints come from the same walk: through unions, refs and arrays, at the path of each blob', async () => {
  const { lexicons } = await loadLexicons()
  const image = (n: number) => ({
    image: { $type: 'blob', ref: { $link: CID.createV1(0x55, CID.parse(SOME_CID).multihash).toString() }, mimeType: 'image/png', size: n },
    alt: '',
  })
  const write = prepareRecordWrite(lexicons, {
    did: SOME_DID,
    action: 'create',
    collection: POST,
    rkey: '3jzfcijpj2z2a',
    record: jsonToLexStrict({
      text: '',
      embed: {
        $type: 'app.bsky.embed.recordWithMedia',
        record: { $type: 'app.bsky.embed.record', record: { uri: SOME_POST_URI, cid: SOME_CID } },
        media: { $type: 'app.bsky.embed.images', images: [image(10), image(20)] },
      },
      createdAt: NOW,
    }),
    validate: undefined,
  })
  const rules = blobConstraints(lexicons, POST, write.record).map(({ path, accept, maxSize }) => ({ path, accept, maxSize }))
  assert.equal(rules, [
    { path: `${POST}/embed/media/images/0/image`, accept: ['image/*'], maxSize: 2000000 },
    { path: `${POST}/embed/media/images/1/image`, accept: ['image/*'], maxSize: 2000000 },
  ])
})

// ---------------------------------------------------------------------------------------------
// through the running server

const POST = 'app.bsky.feed.post'
const LIKE = 'app.bsky.feed.like'
const FOLLOW = 'app.bsky.graph.follow'
const VERIFICATION = 'app.bsky.graph.verification'
const LABELER = 'app.bsky.labeler.service'
const BOOK = 'app.carrel.library.book'

const NOW = '2024-05-06T07:08:09.123Z'
const SOME_CID = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const SOME_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
const SOME_POST_URI = `at://${SOME_DID}/${POST}/3jzfcijpj2z2a`

type ServerCase = {
  collection: string
  /** path of the field in the error message */
  path: string
  record: (value: string) => Record<string, unknown>
  /** for a collection with a literal key: one record that holds every valid line */
  literalKey?: { rkey: string; recordAll: (values: string[]) => Record<string, unknown> }
}

const labeler = (collections: string[]) => ({ policies: { labelValues: [] }, subjectCollections: collections, createdAt: NOW })

/** A record field of each format that some record lexicon the server knows has. */
const SERVER_CASES: Partial<Record<FixtureName, ServerCase>> = {
  datetime: { collection: POST, path: 'createdAt', record: (v) => ({ text: '', createdAt: v }) },
  language: { collection: POST, path: 'langs/0', record: (v) => ({ text: '', langs: [v], createdAt: NOW }) },
  cid: { collection: LIKE, path: 'subject/cid', record: (v) => ({ subject: { uri: SOME_POST_URI, cid: v }, createdAt: NOW }) },
  aturi: { collection: LIKE, path: 'subject/uri', record: (v) => ({ subject: { uri: v, cid: SOME_CID }, createdAt: NOW }) },
  did: { collection: FOLLOW, path: 'subject', record: (v) => ({ subject: v, createdAt: NOW }) },
  handle: {
    collection: VERIFICATION,
    path: 'handle',
    record: (v) => ({ subject: SOME_DID, handle: v, displayName: 'Someone', createdAt: NOW }),
  },
  nsid: {
    collection: LABELER,
    path: 'subjectCollections/0',
    record: (v) => labeler([v]),
    literalKey: { rkey: 'self', recordAll: labeler },
  },
  uri: {
    collection: POST,
    path: 'embed/external/uri',
    record: (v) => ({
      text: '',
      embed: { $type: 'app.bsky.embed.external', external: { uri: v, title: '', description: '' } },
      createdAt: NOW,
    }),
  },
}

let net: TestNetwork
let alice: Awaited<ReturnType<TestNetwork['createAccount']>>
let token: string

const create = (c: ServerCase, value: Record<string, unknown>, rkey?: string) => ({
  $type: 'com.atproto.repo.applyWrites#create',
  collection: c.collection,
  ...(rkey ? { rkey } : {}),
  value: { $type: c.collection, ...value },
})

async function head(): Promise<string> {
  const res = await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })
  return `${res.data.cid} ${res.data.rev}`
}

/** Runs `fn` over `items`, `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item)
    }),
  )
}

test.before(async () => {
  net = await startNetwork()
  alice = await net.createAccount('formats')
  token = alice.agent.session!.accessJwt
})

test.after(async () => {
  await net.close()
})

for (const [name, c] of Object.entries(SERVER_CASES) as [FixtureName, ServerCase][]) {
  test(`server: ${c.collection} ${c.path} (${FIXTURE_FORMATS[name]}) refuses each invalid ${name} line alone and stores the valid ones`, async () => {
    // valid lines, many per applyWrites
    const accepted = acceptedLines(name)
    const writes = c.literalKey
      ? [create(c, c.literalKey.recordAll(accepted), c.literalKey.rkey)]
      : accepted.map((v) => create(c, c.record(v)))
    for (let i = 0; i < writes.length; i += 200) {
      const batch = writes.slice(i, i + 200)
      const res = await rawXrpc(net.url, 'com.atproto.repo.applyWrites', { token, body: { repo: alice.did, writes: batch } })
      assert.is(res.status, 200, JSON.stringify(res.body))
      assert.equal(
        res.body.results.map((r: { validationStatus?: string }) => r.validationStatus),
        batch.map(() => 'valid'),
      )
    }

    // each invalid line in a request of its own: refused, and nothing stored
    const before = await head()
    const wrong: string[] = []
    const refusals = [
      ...invalidLines(name).map((line) => ({ line, message: `${c.path} must be` })),
      ...(REFUSED_BY_LEXICON_LIBRARY[name] ?? []).map((line) => ({ line, message: `${c.path} ${LIBRARY_MESSAGES[name]}` })),
    ]
    await eachLimited(refusals, 8, async ({ line, message }) => {
      const write = create(c, c.record(line), c.literalKey?.rkey)
      const res = await rawXrpc(net.url, 'com.atproto.repo.applyWrites', { token, body: { repo: alice.did, writes: [write] } })
      if (res.status !== 400 || res.body?.error !== 'InvalidRecord' || !String(res.body?.message).includes(message)) {
        wrong.push(`${show(line)}: ${res.status} ${JSON.stringify(res.body)}`)
      }
    })
    assert.equal(wrong, [])
    assert.is(await head(), before, 'a refused write changed the repo')
  })
}

test('server: the issue examples are refused by createRecord and putRecord, naming the field; nothing is stored', async () => {
  const repo = alice.did
  const posts = async () =>
    (await net.agent().com.atproto.repo.listRecords({ repo, collection: POST, limit: 100 })).data.records.length
  const before = { head: await head(), posts: await posts() }
  const cases: Array<{ collection: string; record: Record<string, unknown>; message: string }> = [
    {
      collection: POST,
      record: { text: 'no time zone', createdAt: '1985-04-12T23:20:50.123' },
      message: `Invalid ${POST} record: createdAt must be a valid datetime`,
    },
    {
      collection: POST,
      record: { text: 'four letters', langs: ['en', 'jaja'], createdAt: NOW },
      message: `Invalid ${POST} record: langs/1 must be a valid language tag`,
    },
    {
      collection: LIKE,
      record: { subject: { uri: SOME_POST_URI, cid: 'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR' }, createdAt: NOW },
      message: `Invalid ${LIKE} record: subject/cid must be a valid CID string`,
    },
    {
      collection: BOOK,
      record: { title: 'Upper-case language', language: 'JA', createdAt: NOW },
      message: `Invalid ${BOOK} record: language must be a valid language tag`,
    },
  ]
  for (const c of cases) {
    const err = await expectXrpcError(
      () => alice.agent.com.atproto.repo.createRecord({ repo, collection: c.collection, record: c.record }),
      400,
      'InvalidRecord',
    )
    assert.ok(err.message.startsWith(c.message), err.message)
  }

  // an update is checked the same way, and leaves the stored record as it was
  const kept = await alice.agent.com.atproto.repo.createRecord({ repo, collection: POST, record: { text: 'kept', createdAt: NOW } })
  const rkey = kept.data.uri.split('/').pop()!
  const headAfterCreate = await head()
  const err = await expectXrpcError(
    () =>
      alice.agent.com.atproto.repo.putRecord({
        repo,
        collection: POST,
        rkey,
        record: { text: 'edited', createdAt: '1985-04-12T23:20:50.123' },
      }),
    400,
    'InvalidRecord',
  )
  assert.ok(err.message.includes('createdAt must be a valid datetime'), err.message)
  const got = await net.agent().com.atproto.repo.getRecord({ repo, collection: POST, rkey })
  assert.is(got.data.cid, kept.data.cid)
  assert.is(await head(), headAfterCreate)
  assert.is(await posts(), before.posts + 1)
})

test('server: formats nested in arrays of unions (facets) and in embedded strong refs are checked', async () => {
  const before = await head()
  const cases: Array<{ record: Record<string, unknown>; path: string }> = [
    {
      record: {
        text: '@someone',
        facets: [
          {
            index: { byteStart: 0, byteEnd: 8 },
            features: [
              { $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com' },
              { $type: 'app.bsky.richtext.facet#mention', did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz' },
            ],
          },
          { index: { byteStart: 0, byteEnd: 8 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: 'did:plc' }] },
        ],
        createdAt: NOW,
      },
      path: 'facets/1/features/0/did',
    },
    {
      record: {
        text: 'quote',
        embed: { $type: 'app.bsky.embed.record', record: { uri: SOME_POST_URI, cid: 'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR' } },
        createdAt: NOW,
      },
      path: 'embed/record/cid',
    },
    {
      record: {
        text: 'reply',
        reply: { root: { uri: SOME_POST_URI, cid: SOME_CID }, parent: { uri: SOME_POST_URI, cid: SOME_CID } },
        createdAt: '1985-04-12T23:20:50.123+0000',
      },
      path: 'createdAt',
    },
  ]
  for (const c of cases) {
    const res = await rawXrpc(net.url, 'com.atproto.repo.createRecord', {
      token,
      body: { repo: alice.did, collection: POST, record: { $type: POST, ...c.record } },
    })
    assert.is(res.status, 400, JSON.stringify(res.body))
    assert.is(res.body.error, 'InvalidRecord')
    assert.ok(String(res.body.message).includes(`${c.path} must be`), res.body.message)
  }
  assert.is(await head(), before)
})

test('server: with validate:false the same records are stored without schema checks', async () => {
  const res = await rawXrpc(net.url, 'com.atproto.repo.createRecord', {
    token,
    body: {
      repo: alice.did,
      collection: POST,
      validate: false,
      record: { $type: POST, text: 'unchecked', langs: ['jaja'], createdAt: '1985-04-12T23:20:50.123' },
    },
  })
  assert.is(res.status, 200, JSON.stringify(res.body))
  assert.is(res.body.validationStatus, undefined)
})

test.run()
