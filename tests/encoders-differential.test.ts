// The hand-written encoders beside the DAG-CBOR writer, against the libraries they replace, on
// random inputs from a seeded generator (a failure prints TEST_SEED; TEST_SEED=<n> repeats it):
// CID strings and binary CIDs (multiformats), CAR files (@atproto/repo's writer and reader), and
// WebSocket frames (ws's own framing). tests/cid-string.test.ts and tests/ws-frame.test.ts cover
// the blessed CID forms and fixed frame lengths; these add the other CID versions, codecs, hash
// codes and digest lengths, random block sets, and random lengths around each frame boundary.
import type { Cid } from '@atproto/lex-data'
import { BlockMap, blocksToCarFile, readCar } from '@atproto/repo'
import { CID } from 'multiformats/cid'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as ws from 'ws'
import { carHeader, encodeCar, writeCidBytes } from '../src/repo/car.ts'
import { cidToString } from '../src/repo/cid.ts'
import { encodeBinaryWsFrame } from '../src/firehose/ws-frame.ts'
import { randomCid, randomCidV0, randomCidV1, Rng, sha256CborCid, testSeed } from './_random-data.ts'
import { assertBytes } from './_util.ts'

const seed = testSeed()
console.log(`encoders: TEST_SEED=${seed}`)
const at = (what: string) => `${what} (TEST_SEED=${seed})`

test('CID strings and binary CIDs: every version, codec, hash code and digest length as multiformats', () => {
  const rng = new Rng(seed)
  const out = new Uint8Array(512)
  for (let i = 0; i < 5000; i++) {
    const cid = i % 10 === 0 ? randomCidV0(rng) : randomCidV1(rng)
    const text = (cid as unknown as CID).toString()
    assert.is(cidToString(cid), text, at(`cidToString ${text}`))
    // the CAR writer reads a stored CID string back to bytes, at any offset
    const off = rng.int(64)
    out.fill(0xee)
    const n = writeCidBytes(text, out, off)
    assertBytes(out.subarray(off, off + n), cid.bytes, at(`writeCidBytes ${text}`))
    assert.is(out[off + n], 0xee, at(`writeCidBytes ${text} wrote past its length`))
    assert.is(out[off - 1] ?? 0xee, 0xee)
  }
})

/** A block length next to a varint boundary of the section length (127/128, 16383/16384), or small. */
function blockLength(rng: Rng, cidLength: number): number {
  const r = rng.next()
  if (r < 0.6) return rng.int(300)
  const boundary = r < 0.8 ? 128 : r < 0.98 ? 16384 : 2_097_152
  return Math.max(0, boundary - cidLength - 2 + rng.int(4))
}

/** A random CID @atproto/repo's BlockMap takes (it parses CID strings of at most 128 characters). */
function carCid(rng: Rng): Cid {
  for (;;) {
    const cid = randomCid(rng)
    if (cid.toString().length <= 128) return cid
  }
}

test('CAR files from random block sets: byte for byte as @atproto/repo writes them, and read back', async () => {
  const rng = new Rng(seed ^ 0x5eed)
  for (let i = 0; i < 300; i++) {
    // @atproto/repo reads only 36-byte CIDs (v1, sha2-256): every other set has only those
    const readable = i % 2 === 0
    const count = rng.chance(0.1) ? 0 : 1 + rng.int(i % 50 === 0 ? 200 : 12)
    const blocks: [Cid, Uint8Array][] = []
    const seen = new Set<string>()
    for (let j = 0; j < count; j++) {
      const cid = readable ? sha256CborCid(rng.bytes(8)) : carCid(rng)
      const text = cid.toString()
      if (seen.has(text)) continue
      seen.add(text)
      blocks.push([cid, rng.bytes(blockLength(rng, cid.bytes.length))])
    }
    const root = rng.chance(0.5) ? (blocks[0]?.[0] ?? carCid(rng)) : readable ? sha256CborCid(rng.bytes(8)) : carCid(rng)
    const ours = encodeCar(root, blocks.map(([cid, bytes]) => [cid.toString(), bytes]))
    const theirs = await blocksToCarFile(root, new BlockMap(blocks))
    assertBytes(ours, theirs, at(`CAR ${i} of ${blocks.length} blocks`))
    if (!readable) continue
    // and @atproto/repo's reader finds every block in it (the blocks are random: no hash check)
    const read = await readCar(ours, { skipCidVerification: true })
    assert.is(read.roots.length, 1)
    assert.is(read.roots[0]!.toString(), root.toString())
    assert.is(read.blocks.size, blocks.length)
    for (const [cid, bytes] of blocks) assertBytes(read.blocks.get(cid)!, bytes, at(`block ${cid} of CAR ${i}`))
  }
  // the header alone, with and without a root
  const root = sha256CborCid(new Uint8Array([1]))
  assertBytes(carHeader(root), await blocksToCarFile(root, new BlockMap()), 'header with a root')
  assertBytes(carHeader(null), await blocksToCarFile(null, new BlockMap()), 'header without a root')
})

// ws exports its framing class at run time; @types/ws does not declare it
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] } }

test('WebSocket frames of random lengths around every length-encoding boundary, as ws frames them', () => {
  const rng = new Rng(seed ^ 0xf4a3e)
  const boundaries = [0, 125, 126, 65535, 65536]
  for (let i = 0; i < 400; i++) {
    const boundary = rng.pick(boundaries)
    const length = Math.max(0, boundary - 3 + rng.int(7) + (rng.chance(0.1) ? rng.int(300) : 0))
    const payload = Buffer.from(rng.bytes(length))
    const expected = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false }))
    assertBytes(encodeBinaryWsFrame(payload), expected, at(`frame of ${length} bytes`))
    // a payload that is a view into a larger buffer (as frames are cut from a firehose batch)
    const around = Buffer.concat([Buffer.from([1, 2, 3]), payload, Buffer.from([4])])
    const view = new Uint8Array(around.buffer, around.byteOffset + 3, length)
    assertBytes(encodeBinaryWsFrame(view), expected, at(`frame of a ${length}-byte view`))
  }
})

test.run()
