// getRepo exports whose lifetime is bounded: a client that stops reading holds a read snapshot
// (and with it the WAL, which cannot be checkpointed past it) only until the stall timeout; a
// snapshot lives at most the configured age; exports are bounded in number, server-wide and per
// client IP. Each attack is performed from outside with raw sockets or fetch.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { statSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { verifyRepoCar } from '@atproto/repo'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { rawXrpc } from './_util.ts'
import { sleep } from './_firehose.ts'
import { stalledGet, writeBigRecords } from './_stall.ts'

type Account = Awaited<ReturnType<TestNetwork['createAccount']>>

const BIG = 'com.example.export.big'
const SMALL = 'com.example.export.small'

async function fillBigRepo(acc: Account): Promise<void> {
  await writeBigRecords(acc, BIG, 24)
}

function stalledGetRepo(url: string, did: string, ip?: string): Promise<Socket> {
  return stalledGet(url, `/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`, ip)
}

function walBytes(net: TestNetwork): number {
  try {
    return statSync(join(net.dataDir, 'carrel.sqlite-wal')).size
  } catch {
    return 0
  }
}

/**
 * Polls a TRUNCATE checkpoint (from a connection of the test's own) until it completes: it can
 * only while no reader holds a snapshot older than the last commit. Returns whether it did.
 */
async function checkpointCompletes(net: TestNetwork, deadlineMs: number): Promise<boolean> {
  const db = new Database(join(net.dataDir, 'carrel.sqlite'))
  try {
    db.pragma('busy_timeout = 100')
    const deadline = Date.now() + deadlineMs
    while (Date.now() < deadline) {
      const [{ busy }] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
      if (busy === 0 && walBytes(net) === 0) return true
      await sleep(100)
    }
    return false
  } finally {
    db.close()
  }
}

async function writeSmall(acc: Account, n: number, tag: string): Promise<string[]> {
  const uris: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await acc.agent.com.atproto.repo.createRecord({
      repo: acc.did,
      collection: SMALL,
      record: { $type: SMALL, text: `${tag} ${i} ${'y'.repeat(4000)}` },
    })
    uris.push(res.data.uri)
  }
  return uris
}

async function fullExport(net: TestNetwork, did: string, ip: string) {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', net.url)
  url.searchParams.set('did', did)
  const res = await fetch(url, { headers: { 'x-forwarded-for': ip } })
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) }
}

async function signingKey(net: TestNetwork, did: string): Promise<string> {
  const doc = (await (await fetch(`${net.plc.url}/${encodeURIComponent(did)}/data`)).json()) as { verificationMethods: { atproto: string } }
  return doc.verificationMethods.atproto
}

test('a stalled getRepo reader: writes go on, other exports are served, and after the stall timeout its snapshot is released and the WAL checkpoints', async () => {
  const net = await startNetwork({ PDS_EXPORT_STALL_TIMEOUT_MS: '1500' })
  try {
    const acc = await net.createAccount()
    await fillBigRepo(acc)
    const key = await signingKey(net, acc.did)
    const stalled = await stalledGetRepo(net.url, acc.did)

    // writes continue while it is stalled, and are committed
    const uris = await writeSmall(acc, 40, 'during')
    for (const uri of uris.slice(-3)) {
      const rkey = uri.split('/').pop()!
      const got = await acc.agent.com.atproto.repo.getRecord({ repo: acc.did, collection: SMALL, rkey })
      assert.ok(String((got.data.value as { text: string }).text).startsWith('during'))
    }

    // other exports are served meanwhile, and hold everything written
    const other = await fullExport(net, acc.did, '10.9.0.1')
    assert.is(other.status, 200)
    const v = await verifyRepoCar(other.bytes, acc.did, key)
    assert.is(v.creates.filter((c) => c.collection === BIG).length, 24)
    assert.is(v.creates.filter((c) => c.collection === SMALL).length, 40)

    // once the stall timeout has passed the snapshot is gone: a full checkpoint completes
    assert.ok(await checkpointCompletes(net, 20_000), 'a TRUNCATE checkpoint completes once the stalled export is cut')
    // writes after it go on, and the WAL they leave can be checkpointed again: it stays bounded
    await writeSmall(acc, 20, 'after')
    assert.ok(await checkpointCompletes(net, 20_000), 'the WAL checkpoints again')

    // the stalled client's response was cut: reading it now ends before a complete CAR
    const received = await new Promise<number>((resolve) => {
      let n = 0
      stalled.on('data', (c: Buffer) => (n += c.length))
      stalled.once('close', () => resolve(n))
      stalled.resume()
    })
    assert.ok(received < other.bytes.length, `the stalled response was cut (${received} of ${other.bytes.length} bytes)`)
  } finally {
    await net.close()
  }
})

test('concurrent exports are bounded per client IP (429) and server-wide (503), with Retry-After; freed slots serve again', async () => {
  const net = await startNetwork({
    PDS_EXPORT_MAX_CONCURRENT: '3',
    PDS_EXPORT_MAX_CONCURRENT_PER_IP: '2',
    PDS_EXPORT_STALL_TIMEOUT_MS: '60000',
  })
  const held: Socket[] = []
  try {
    const acc = await net.createAccount()
    await fillBigRepo(acc)
    const head = await acc.agent.com.atproto.sync.getLatestCommit({ did: acc.did })

    held.push(await stalledGetRepo(net.url, acc.did, '10.1.0.1'))
    held.push(await stalledGetRepo(net.url, acc.did, '10.1.0.1'))
    const overIp = await rawXrpc(net.url, 'com.atproto.sync.getRepo', { params: { did: acc.did }, ip: '10.1.0.1' })
    assert.is(overIp.status, 429)
    assert.is(overIp.body.error, 'RateLimitExceeded')
    assert.ok(Number(overIp.headers.get('retry-after')) > 0, 'Retry-After on 429')

    held.push(await stalledGetRepo(net.url, acc.did, '10.1.0.2'))
    const overAll = await rawXrpc(net.url, 'com.atproto.sync.getRepo', { params: { did: acc.did }, ip: '10.1.0.3' })
    assert.is(overAll.status, 503)
    assert.is(overAll.body.error, 'NotEnoughResources')
    assert.ok(Number(overAll.headers.get('retry-after')) > 0, 'Retry-After on 503')

    // other sync reads are not held up, and nothing changed
    const latest = await acc.agent.com.atproto.sync.getLatestCommit({ did: acc.did })
    assert.equal(latest.data, head.data)

    // a client that goes away frees its slot
    held.shift()!.destroy()
    let served: Awaited<ReturnType<typeof fullExport>> | undefined
    for (let i = 0; i < 100 && served?.status !== 200; i++) {
      served = await fullExport(net, acc.did, '10.1.0.3')
      if (served.status !== 200) await sleep(50)
    }
    assert.is(served!.status, 200)
    const v = await verifyRepoCar(served!.bytes, acc.did, await signingKey(net, acc.did))
    assert.is(v.commit.rev, head.data.rev)
    // while 10.1.0.1 still holds one, it may start one more
    held.push(await stalledGetRepo(net.url, acc.did, '10.1.0.1'))
  } finally {
    for (const s of held) s.destroy()
    await net.close()
  }
})

test('a snapshot lives at most PDS_EXPORT_MAX_SNAPSHOT_AGE_MS: a slow but steady reader is cut, then the WAL checkpoints', async () => {
  const net = await startNetwork({ PDS_EXPORT_MAX_SNAPSHOT_AGE_MS: '1000', PDS_EXPORT_STALL_TIMEOUT_MS: '60000' })
  try {
    const acc = await net.createAccount()
    await fillBigRepo(acc)
    const url = new URL('/xrpc/com.atproto.sync.getRepo', net.url)
    url.searchParams.set('did', acc.did)
    const res = await fetch(url)
    assert.is(res.status, 200)
    const reader = res.body!.getReader()
    let bytes = 0
    let cut = false
    // never stalls (a read every 20 ms), yet would take far longer than a second to finish
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        bytes += value.length
        await sleep(20)
        await writeSmall(acc, 1, 'meanwhile')
      }
    } catch {
      cut = true
    }
    assert.ok(cut, `the response was cut (read ${bytes} bytes)`)
    assert.ok(await checkpointCompletes(net, 20_000), 'the snapshot was released')
  } finally {
    await net.close()
  }
})

test.run()
