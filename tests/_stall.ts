// Helpers for tests of bounded responses: big records, and a client that stops reading.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import * as assert from 'uvu/assert'
import type { TestNetwork } from './_harness.ts'

type Account = Awaited<ReturnType<TestNetwork['createAccount']>>

/**
 * `n` records of ~900 kB each (distinct random text, so distinct blocks) in `collection`, rkeys
 * `big00`, `big01`, ...; returns their CIDs in rkey order. 24 of them are several times what
 * the kernel buffers of a loopback connection hold.
 */
export async function writeBigRecords(acc: Account, collection: string, n: number): Promise<string[]> {
  const cids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await acc.agent.com.atproto.repo.createRecord({
      repo: acc.did,
      collection,
      rkey: `big${String(i).padStart(2, '0')}`,
      record: { $type: collection, text: randomBytes(675_000).toString('base64') },
    })
    cids.push(res.data.cid)
  }
  return cids
}

/**
 * A GET of `path` on a raw socket that reads the status line and then never reads again (its
 * kernel buffers fill, then the server's). Resolves once the server has answered 200, i.e. the
 * response is under way, with the bytes read so far. `ip` is sent as X-Forwarded-For (believed
 * from loopback).
 */
export async function stalledGet(url: string, path: string, ip?: string): Promise<Socket & { firstBytes: Buffer }> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.on('error', () => {}) // the server may cut it: that is the point
  const first = new Promise<Buffer>((resolve) => socket.once('data', resolve))
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n` + (ip ? `X-Forwarded-For: ${ip}\r\n` : '') + '\r\n')
  const firstBytes = await first
  socket.pause()
  assert.is(firstBytes.subarray(0, 12).toString('latin1'), 'HTTP/1.1 200')
  return Object.assign(socket, { firstBytes })
}

/**
 * The body of a raw HTTP/1.1 response as far as it came: de-chunked when chunked (`complete` =
 * the terminating chunk arrived), else as sent (`complete` = Content-Length bytes arrived).
 */
export function responseBody(raw: Buffer): { body: Buffer; complete: boolean } {
  const headerEnd = raw.indexOf('\r\n\r\n')
  const head = raw.subarray(0, headerEnd).toString('latin1').toLowerCase()
  let rest = raw.subarray(headerEnd + 4)
  if (!head.includes('transfer-encoding: chunked')) {
    const length = Number(/content-length: (\d+)/.exec(head)?.[1] ?? -1)
    return { body: rest, complete: rest.length === length }
  }
  const parts: Buffer[] = []
  for (;;) {
    const lineEnd = rest.indexOf('\r\n')
    if (lineEnd === -1) return { body: Buffer.concat(parts), complete: false }
    const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16)
    if (size === 0) return { body: Buffer.concat(parts), complete: true }
    const chunk = rest.subarray(lineEnd + 2, lineEnd + 2 + size)
    parts.push(chunk)
    if (chunk.length < size) return { body: Buffer.concat(parts), complete: false }
    rest = rest.subarray(lineEnd + 2 + size + 2)
  }
}
