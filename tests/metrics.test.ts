// /metrics: off by default; with PDS_METRICS_PORT, a listener of its own on 127.0.0.1 only,
// answering the Prometheus text format (parsed here strictly, by the format's rules) with
// requests by method and status, commit latency, firehose subscribers and events, database and
// blob bytes, each checked against what the test did.
import { statSync } from 'node:fs'
import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Counter, Gauge, Histogram, MetricsRegistry } from '../src/metrics/registry.ts'
import { RawSubscriber } from './_firehose.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'

type Sample = { name: string; labels: Record<string, string>; value: number }
type Family = { name: string; type: string; help: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity
  if (v === '-Inf') return -Infinity
  if (v === 'NaN') return NaN
  assert.match(v, /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/, `a number: ${v}`)
  return Number(v)
}

/** `{a="x",b="y"}` with the format's escapes (\\, \", \n); returns the labels and the rest of the line. */
function parseLabels(text: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) }
    const eq = text.indexOf('=', i)
    const name = text.slice(i, eq)
    assert.match(name, LABEL_NAME, `label name in ${text}`)
    assert.is(text[eq + 1], '"', `quoted label value in ${text}`)
    let value = ''
    let j = eq + 2
    for (; text[j] !== '"'; j++) {
      assert.ok(j < text.length, `unterminated label value in ${text}`)
      if (text[j] === '\\') {
        const next = text[++j]
        assert.ok(next === '\\' || next === '"' || next === 'n', `escape \\${next} in ${text}`)
        value += next === 'n' ? '\n' : next
      } else {
        assert.ok(text[j] !== '\n', 'raw newline in a label value')
        value += text[j]
      }
    }
    assert.not.ok(name in labels, `label ${name} twice`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else assert.is(text[i], '}', `after a label value in ${text}`)
  }
}

/** Strict reading of the text format: HELP and TYPE once per family, before its samples, and only its samples after. */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'ends with a newline')
  const families = new Map<string, Family>()
  let current: Family | undefined
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [name, ...help] = line.slice(7).split(' ')
      assert.match(name!, NAME)
      assert.not.ok(families.has(name!), `family ${name} declared twice`)
      current = { name: name!, type: '', help: help.join(' '), samples: [] }
      families.set(name!, current)
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      assert.is(name, current?.name, 'TYPE follows its HELP')
      assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!), `type ${type}`)
      assert.is(current!.samples.length, 0, 'TYPE before the samples')
      current!.type = type!
      continue
    }
    assert.not.ok(line.startsWith('#'), `a comment: ${line}`)
    assert.ok(current && current.type, `a sample before any TYPE: ${line}`)
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line)!
    const name = m[1]!
    const { labels, rest } = m[2]!.startsWith('{') ? parseLabels(m[2]!) : { labels: {}, rest: m[2]! }
    assert.match(rest, /^ \S+$/, `one value after the labels: ${line}`)
    const allowed =
      current!.type === 'histogram' ? [`${current!.name}_bucket`, `${current!.name}_sum`, `${current!.name}_count`] : [current!.name]
    assert.ok(allowed.includes(name), `${name} inside family ${current!.name}`)
    if (current!.type === 'counter') assert.ok(name.endsWith('_total'), `counter ${name} ends in _total`)
    current!.samples.push({ name, labels, value: parseValue(rest.slice(1)) })
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram(f: Family) {
  const buckets = f.samples.filter((s) => s.name.endsWith('_bucket'))
  const les = buckets.map((b) => parseValue(b.labels.le!))
  assert.is(les[les.length - 1], Infinity, `${f.name} ends with le="+Inf"`)
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(les[i]! > les[i - 1]!, `${f.name} buckets ascend`)
    assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${f.name} counts are cumulative`)
  }
  const count = f.samples.find((s) => s.name === `${f.name}_count`)
  assert.is(buckets[buckets.length - 1]!.value, count?.value, `${f.name}: +Inf bucket = count`)
  assert.ok(f.samples.some((s) => s.name === `${f.name}_sum`), `${f.name}_sum`)
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name) ?? families.get(name.replace(/_(count|sum|bucket)$/, ''))
  const s = family?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
  return s?.value ?? 0
}

let net: TestNetwork
let metricsUrl: string

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(metricsUrl)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  return parseExposition(await res.text())
}

test.before(async () => {
  net = await startNetwork({ PDS_METRICS_PORT: '0' })
  metricsUrl = net.pds.metrics!.url
})

test.after(async () => {
  await net?.close()
})

test('off by default: no listener, and /metrics is not served on the public port', async () => {
  const plain = await startNetwork()
  try {
    assert.is(plain.pds.metrics, undefined)
    assert.is(plain.pds.cfg.metricsPort, undefined)
    assert.is((await fetch(`${plain.url}/metrics`)).status, 404)
  } finally {
    await plain.close()
  }
  // nor when on: the public port never answers /metrics
  assert.is((await fetch(`${net.url}/metrics`)).status, 404)
})

test('when on, the listener is bound to 127.0.0.1 only', async () => {
  const listener = net.pds.metrics!
  assert.equal(listener.server.address(), { address: '127.0.0.1', family: 'IPv4', port: listener.port })
  assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  // from another address of this machine, where there is one, nothing answers
  const others = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
  for (const a of others) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect(listener.port, a!.address)
      s.once('connect', () => {
        s.destroy()
        resolve(false)
      })
      s.once('error', () => resolve(true))
    })
    assert.ok(refused, `metrics answered on ${a!.address}`)
  }
  assert.is((await fetch(metricsUrl.replace('/metrics', '/'))).status, 404)
})

test('requests by method and status, commits, firehose events and subscribers, database and blob bytes', async () => {
  const alice = await net.createAccount()
  const before = await scrape()
  const WRITES = 7
  for (let i = 0; i < WRITES; i++) {
    await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.metric', record: { n: i } })
  }
  await alice.agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'com.example.metric', rkey: 'missing' }).catch(() => null)
  await fetch(`${net.url}/xrpc/com.example.no.such.method`)
  // a method of a known lexicon that this server forwards (no AppView here: 501) has its own label
  await alice.agent.app.bsky.feed.getTimeline({}).catch(() => null)
  await fetch(`${net.url}/robots.txt`)
  const blob = new Uint8Array(12_345).map((_, i) => (i * 7) % 256)
  await alice.agent.com.atproto.repo.uploadBlob(blob, { encoding: 'application/octet-stream' })
  const subs = [await RawSubscriber.connect(net.url), await RawSubscriber.connect(net.url)]

  const after = await scrape()
  const delta = (name: string, labels?: Record<string, string>) => value(after, name, labels) - value(before, name, labels)
  assert.is(delta('carrel_requests_total', { method: 'com.atproto.repo.createRecord', status: '200' }), WRITES)
  assert.is(delta('carrel_requests_total', { method: 'com.atproto.repo.getRecord', status: '400' }), 1)
  assert.is(delta('carrel_requests_total', { method: 'unknown', status: '501' }), 1)
  assert.is(delta('carrel_requests_total', { method: 'app.bsky.feed.getTimeline', status: '501' }), 1)
  assert.is(delta('carrel_requests_total', { method: '/robots.txt', status: '200' }), 1)
  assert.is(delta('carrel_requests_total', { method: 'com.atproto.repo.uploadBlob', status: '200' }), 1)
  // every commit timed once; its events counted
  assert.is(delta('carrel_commit_duration_seconds_count'), WRITES)
  assert.ok(delta('carrel_commit_duration_seconds_sum') > 0)
  assert.is(delta('carrel_firehose_events_total', { type: 'commit' }), WRITES)
  assert.is(value(after, 'carrel_firehose_subscribers'), 2)
  assert.is(delta('carrel_blob_bytes'), blob.length)
  assert.is(value(after, 'carrel_info', { version: net.pds.cfg.version }), 1)
  assert.ok(value(after, 'process_resident_memory_bytes') > 0)

  // the database's size as the files have it (read around a scrape that nothing changes meanwhile)
  const db = join(net.dataDir, 'carrel.sqlite')
  for (let attempt = 0; ; attempt++) {
    const sizeBefore = statSync(db).size
    const m = await scrape()
    if (statSync(db).size === sizeBefore) {
      assert.is(value(m, 'carrel_database_bytes', { file: 'main' }), sizeBefore)
      break
    }
    assert.ok(attempt < 10, 'the database file kept changing size')
  }

  subs[0]!.close()
  await subs[0]!.closed
  for (;;) {
    const m = await scrape()
    if (value(m, 'carrel_firehose_subscribers') === 1) break
    await new Promise((r) => setTimeout(r, 10))
  }
  subs[1]!.close()
})

test('the text format: escaping, histogram buckets, one family per name', () => {
  const r = new MetricsRegistry()
  const c = r.add(new Counter('x_total', 'a help line with \\ and\na newline', ['path']))
  c.inc({ path: 'quote " backslash \\ newline \n end' })
  c.inc({ path: 'plain' }, 2)
  const h = r.add(new Histogram('x_seconds', 'latency', [0.1, 1]))
  for (const v of [0.05, 0.5, 0.5, 3]) h.observe(v)
  r.add(new Gauge('x_bytes', 'bytes', () => [[{ file: 'a' }, 1.5], [{ file: 'b' }, Infinity]], ['file']))
  const text = r.render()
  const families = parseExposition(text)
  assert.ok(text.includes('# HELP x_total a help line with \\\\ and\\na newline\n'))
  assert.is(value(families, 'x_total', { path: 'quote " backslash \\ newline \n end' }), 1)
  assert.is(value(families, 'x_total', { path: 'plain' }), 2)
  assert.equal(
    families.get('x_seconds')!.samples.map((s) => [s.name, s.labels.le ?? '', s.value]),
    [
      ['x_seconds_bucket', '0.1', 1],
      ['x_seconds_bucket', '1', 3],
      ['x_seconds_bucket', '+Inf', 4],
      ['x_seconds_sum', '', 4.05],
      ['x_seconds_count', '', 4],
    ],
  )
  assert.is(value(families, 'x_bytes', { file: 'b' }), Infinity)
  assert.throws(() => r.add(new Counter('x_total', 'again')), /twice/)
  assert.throws(() => new Counter('bad name', 'x'), /bad metric name/)
  assert.throws(() => c.inc({}), /label path missing/)
  // the parser itself refuses what the format forbids (its assertions throw)
  const refused = (t: string) => {
    try {
      parseExposition(t)
      return false
    } catch {
      return true
    }
  }
  assert.ok(refused('# HELP a x\n# TYPE a counter\na_total 1\n'), 'a sample outside its family')
  assert.ok(refused('# HELP a_total x\n# TYPE a_total counter\na_total{l="\\x"} 1\n'), 'an unknown escape')
  assert.ok(refused('a_total 1\n'), 'a sample before any TYPE')
  assert.ok(refused('# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), 'counts that fall')
  assert.not.ok(refused('# HELP a_total x\n# TYPE a_total counter\na_total{l="\\n"} 1\n'))
})

test.run()
