// `carrel relay status` and `relay resync` against a stand-in relay: a small @atproto/xrpc-server
// app on 127.0.0.1 answering getHostStatus, getRepoStatus and requestCrawl the way a relay does.
import { schemas } from '@atproto/api'
import type { LexiconDoc } from '@atproto/lexicon'
import { createServer, InvalidRequestError } from '@atproto/xrpc-server'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { carrel } from './_cli.ts'
import { RawSubscriber } from './_firehose.ts'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc } from './_util.ts'

type RepoAnswer = { active: boolean; status?: string; rev?: string }

/** What the stand-in relay says of our host and of each account, and the crawls asked of it. */
const relayState = {
  host: { status: 'active', seq: 0, accountCount: 0 },
  repos: new Map<string, RepoAnswer>(),
  crawlRequests: [] as string[],
}

let net: TestNetwork
let relay: Server
let relayUrl: string

function startRelay(): Promise<Server> {
  const nsids = ['com.atproto.sync.defs', 'com.atproto.sync.getHostStatus', 'com.atproto.sync.getRepoStatus', 'com.atproto.sync.requestCrawl']
  const docs = (schemas as LexiconDoc[]).filter((d) => nsids.includes(d.id))
  const server = createServer(docs)
  server.method('com.atproto.sync.getHostStatus', ({ params }) => {
    if (params.hostname !== 'localhost') throw new InvalidRequestError('unknown host', 'HostNotFound')
    return { encoding: 'application/json', body: { hostname: 'localhost', ...relayState.host } }
  })
  server.method('com.atproto.sync.getRepoStatus', ({ params }) => {
    const answer = relayState.repos.get(params.did as string)
    if (!answer) throw new InvalidRequestError(`Could not find repo for DID: ${params.did}`, 'RepoNotFound')
    return { encoding: 'application/json', body: { did: params.did, ...answer } }
  })
  server.method('com.atproto.sync.requestCrawl', ({ input }) => {
    relayState.crawlRequests.push((input!.body as { hostname: string }).hostname)
  })
  return new Promise((resolve) => {
    const http = server.router.listen(0, '127.0.0.1', () => resolve(http))
  })
}

const latest = async (did: string) => (await rawXrpc(net.url, 'com.atproto.sync.getLatestCommit', { params: { did } })).body.rev as string

function env(): Record<string, string> {
  return {
    PDS_DATA_DIRECTORY: net.dataDir,
    PDS_PORT: String(net.pds.http.port),
    PDS_HOSTNAME: 'localhost',
    PDS_ADMIN_PASSWORD: net.env.PDS_ADMIN_PASSWORD!,
    PDS_CRAWLERS: relayUrl,
  }
}

let ann: { did: string }, ben: { did: string }, cat: { did: string }, dan: { did: string }

test.before(async () => {
  net = await startNetwork()
  relay = await startRelay()
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
  ann = await net.createAccount('ann')
  const b = await net.createAccount('ben')
  ben = b
  cat = await net.createAccount('cat')
  dan = await net.createAccount('dan')
  // the relay read ben's repo before his latest post
  const benOldRev = await latest(ben.did)
  await b.agent.com.atproto.repo.createRecord({
    repo: ben.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'after the relay looked', createdAt: new Date().toISOString() },
  })
  relayState.repos.set(ann.did, { active: true, rev: await latest(ann.did) })
  relayState.repos.set(ben.did, { active: true, rev: benOldRev })
  relayState.repos.set(dan.did, { active: false, status: 'throttled', rev: await latest(dan.did) })
  // cat: the relay never heard of it
  relayState.host = { status: 'active', seq: net.pds.ctx.sequencer.currentSeq(), accountCount: 3 }
})

test.after(async () => {
  await new Promise((resolve) => relay.close(resolve))
  await net.close()
})

test('relay status lists the accounts the relay is behind on, does not know, or throttles (exit 3, --json)', async () => {
  const r = await carrel(['relay', 'status', '--json'], env())
  assert.is(r.code, 3, r.stderr)
  const [report] = r.json().relays
  assert.is(report.relay, relayUrl)
  assert.is(report.host.status, 'active')
  assert.is(report.hostBehind, false)
  assert.is(report.accountsChecked, 4)
  const problems = Object.fromEntries(report.accounts.map((a: { did: string; problem: string }) => [a.did, a.problem]))
  assert.equal(problems, { [ben.did]: 'behind', [cat.did]: 'unknown-to-relay', [dan.did]: 'throttled' })
  const benRow = report.accounts.find((a: { did: string }) => a.did === ben.did)
  assert.is(benRow.ours.rev, await latest(ben.did))
  assert.ok(benRow.relay.rev < benRow.ours.rev)

  const human = await carrel(['relay', 'status'], env())
  assert.is(human.code, 3)
  assert.match(human.stdout, /behind\s+ben\.test/)
  assert.ok(!human.stdout.includes('ann.test'), human.stdout)
})

test('relay status: a relay that is up to date on everything passes (exit 0); one behind on the host seq does not', async () => {
  const saved = new Map(relayState.repos)
  relayState.repos.set(ben.did, { active: true, rev: await latest(ben.did) })
  relayState.repos.set(cat.did, { active: true, rev: await latest(cat.did) })
  relayState.repos.set(dan.did, { active: true, rev: await latest(dan.did) })
  try {
    const ok = await carrel(['relay', 'status', '--json'], env())
    assert.is(ok.code, 0, ok.stdout)
    assert.equal(ok.json().relays[0].accounts, [])
    relayState.host.seq -= 1
    const behind = await carrel(['relay', 'status', '--json'], env())
    assert.is(behind.code, 3)
    assert.is(behind.json().relays[0].hostBehind, true)
  } finally {
    relayState.host.seq += 1
    relayState.repos = saved
  }
})

test('relay resync: #identity, #account and #sync of the current commit for each account the relay is behind on, then requestCrawl', async () => {
  const cursor = net.pds.ctx.sequencer.currentSeq()
  relayState.crawlRequests = []
  const r = await carrel(['relay', 'resync', '--json'], env())
  assert.is(r.code, 0, r.stderr)
  const [result] = r.json().relays
  assert.equal([...result.resynced].sort(), [ben.did, cat.did, dan.did].sort())
  assert.is(result.crawl.ok, true)
  assert.equal(relayState.crawlRequests, ['localhost'])

  const sub = await RawSubscriber.connect(net.url, cursor)
  try {
    const frames = await sub.waitFor((f) => f.filter((x) => x.header.t === '#sync').length >= 3, 10_000, 'three #sync frames')
    const syncOf = (did: string) => frames.find((f) => f.header.t === '#sync' && f.body.did === did)
    assert.is(syncOf(ben.did)?.body.rev, await latest(ben.did))
    assert.ok(syncOf(cat.did) && syncOf(dan.did))
    assert.not.ok(syncOf(ann.did), 'nothing for an account the relay is current on')
  } finally {
    sub.ws.close()
  }
})

test('request-crawl asks each relay to crawl PDS_HOSTNAME; a relay that does not answer is exit 1', async () => {
  relayState.crawlRequests = []
  const r = await carrel(['request-crawl', '--json'], env())
  assert.is(r.code, 0, r.stderr)
  assert.equal(r.json().results, [{ relay: relayUrl, ok: true }])
  assert.equal(relayState.crawlRequests, ['localhost'])
  const dead = await carrel(['request-crawl', 'http://127.0.0.1:9', '--json'], env())
  assert.is(dead.code, 1)
  assert.is(dead.json().results[0].ok, false)
})

test('relay resync needs the running server; relay commands need a relay', async () => {
  const noRelay = await carrel(['relay', 'status'], { ...env(), PDS_CRAWLERS: '' })
  assert.is(noRelay.code, 2)
  const offline = await carrel(['relay', 'resync', '--url', 'http://127.0.0.1:9', '--json'], env())
  assert.is(offline.code, 4)
  assert.match(offline.json().message, /needs the running server/)
})

test.run()
