/**
 * A complete server-to-client WebSocket message (RFC 6455 §5.2: FIN, binary opcode, unmasked,
 * no extensions) carrying `payload`. Server frames are not masked, so one event's bytes are the
 * same for every subscriber: the fan-out builds them once and writes them to each socket in a
 * single write, where `ws.send` would frame them again (two writes and a writev) per subscriber.
 * Only valid on connections without permessage-deflate (subscribeRepos never negotiates it).
 */
export function encodeBinaryWsFrame(payload: Uint8Array): Buffer {
  const len = payload.byteLength
  const headerLength = len < 126 ? 2 : len < 65536 ? 4 : 10
  const out = Buffer.allocUnsafe(headerLength + len)
  out[0] = 0x82 // FIN + opcode 2 (binary)
  if (len < 126) {
    out[1] = len
  } else if (len < 65536) {
    out[1] = 126
    out.writeUInt16BE(len, 2)
  } else {
    out[1] = 127
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2)
    out.writeUInt32BE(len >>> 0, 6)
  }
  out.set(payload, headerLength)
  return out
}
