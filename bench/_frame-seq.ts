// Reads `seq` out of a subscribeRepos frame without decoding it: a subscriber process that
// decodes (or keeps) every frame it receives spends its core on that, and on 2 cores that
// time shows up as delivery latency. The bench checks this reader against a full decode.

/** Returns the byte offset just past the DAG-CBOR item starting at `pos`. */
function skipItem(b: Uint8Array, pos: number): number {
  const major = b[pos] >> 5
  const { value, next } = readArg(b, pos)
  switch (major) {
    case 0:
    case 1:
    case 7:
      return next
    case 2:
    case 3:
      return next + value
    case 4: {
      let p = next
      for (let i = 0; i < value; i++) p = skipItem(b, p)
      return p
    }
    case 5: {
      let p = next
      for (let i = 0; i < value * 2; i++) p = skipItem(b, p)
      return p
    }
    case 6:
      return skipItem(b, next)
  }
  throw new Error('bad CBOR')
}

function readArg(b: Uint8Array, pos: number): { value: number; next: number } {
  const info = b[pos] & 0x1f
  if (info < 24) return { value: info, next: pos + 1 }
  if (info === 24) return { value: b[pos + 1], next: pos + 2 }
  if (info === 25) return { value: (b[pos + 1] << 8) | b[pos + 2], next: pos + 3 }
  if (info === 26) return { value: ((b[pos + 1] << 24) >>> 0) + ((b[pos + 2] << 16) | (b[pos + 3] << 8) | b[pos + 4]), next: pos + 5 }
  if (info === 27) {
    const hi = ((b[pos + 1] << 24) >>> 0) + ((b[pos + 2] << 16) | (b[pos + 3] << 8) | b[pos + 4])
    const lo = ((b[pos + 5] << 24) >>> 0) + ((b[pos + 6] << 16) | (b[pos + 7] << 8) | b[pos + 8])
    return { value: hi * 2 ** 32 + lo, next: pos + 9 }
  }
  throw new Error('bad CBOR argument')
}

const SEQ = [0x63, 0x73, 0x65, 0x71] // text(3) "seq"

/** The `seq` of a message frame's body, or -1 when it has none (error and #info frames). */
export function frameSeq(frame: Uint8Array): number {
  let p = skipItem(frame, 0) // the header
  if (frame[p] >> 5 !== 5) return -1
  const { value: entries, next } = readArg(frame, p)
  p = next
  for (let i = 0; i < entries; i++) {
    const isSeq = frame[p] === SEQ[0] && frame[p + 1] === SEQ[1] && frame[p + 2] === SEQ[2] && frame[p + 3] === SEQ[3]
    p = skipItem(frame, p)
    if (isSeq) return readArg(frame, p).value
    p = skipItem(frame, p)
  }
  return -1
}
