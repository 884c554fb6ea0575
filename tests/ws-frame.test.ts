// The fan-out frames each live event once for every subscriber (src/firehose/ws-frame.ts): the
// bytes must be exactly what `ws` would have written, and what a `ws` client reads back.
import { randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as ws from 'ws'
import { encodeBinaryWsFrame } from '../src/firehose/ws-frame.ts'

// ws exports its framing classes at run time; @types/ws does not declare them
const { Receiver, Sender } = ws as unknown as {
  Receiver: new (opts: { isServer: boolean; maxPayload: number }) => Writable
  Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] }
}

// every length encoding: 7-bit, 16-bit and 64-bit, on both sides of each boundary
const LENGTHS = [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000, 2 * 1024 * 1024]

test('the bytes ws itself frames a server-side binary message with', () => {
  for (const len of LENGTHS) {
    const payload = randomBytes(len)
    const wsFrame = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false }))
    assert.ok(encodeBinaryWsFrame(payload).equals(wsFrame), `length ${len}`)
  }
})

test('a ws client reads each frame back as one binary message with the payload', async () => {
  const received: Buffer[] = []
  const receiver = new Receiver({ isServer: false, maxPayload: 0 })
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.ok(isBinary)
    received.push(data)
  })
  const payloads = LENGTHS.map((len) => randomBytes(len))
  // one stream of back-to-back frames, cut at arbitrary points, as TCP would deliver it
  const stream = Buffer.concat(payloads.map((p) => encodeBinaryWsFrame(p)))
  for (let at = 0; at < stream.length; ) {
    const n = Math.min(stream.length - at, 1 + Math.floor(Math.random() * 50_000))
    await new Promise<void>((resolve, reject) => receiver.write(stream.subarray(at, at + n), (err?: Error | null) => (err ? reject(err) : resolve())))
    at += n
  }
  assert.is(received.length, payloads.length)
  payloads.forEach((p, i) => assert.ok(received[i].equals(p), `message ${i} (${p.length} bytes)`))
})

test.run()
