// cidToString (src/repo/cid.ts) must print every CID exactly as multiformats does.
import { randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import type { Cid } from '@atproto/lex-data'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cidForCborBytes, cidToString } from '../src/repo/cid.ts'

test('the string multiformats gives, for record, raw (blob) and v0 CIDs', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(1 + (i % 200))
    const cbor = cidForCborBytes(bytes)
    assert.is(cidToString(cbor), cbor.toString())
    const raw = CID.createV1(0x55, createDigest(0x12, randomBytes(32))) as unknown as Cid
    assert.is(cidToString(raw), raw.toString())
    // other digest lengths move where the last 5-bit group ends
    const odd = CID.createV1(0x71, createDigest(0x12, randomBytes(1 + (i % 40)))) as unknown as Cid
    assert.is(cidToString(odd), odd.toString())
  }
  const v0 = CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n') as unknown as Cid
  assert.is(cidToString(v0), 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n')
})

test.run()
