import { encodeDagCbor } from '../dag-cbor.js'

export type EventType = '#commit' | '#sync' | '#identity' | '#account' | '#info'

/** A frame: the DAG-CBOR header followed by the DAG-CBOR body. */
function encodeFrame(header: Record<string, unknown>, body: Record<string, unknown>): Uint8Array {
  const head = encodeDagCbor(header)
  const payload = encodeDagCbor(body)
  const out = new Uint8Array(head.length + payload.length)
  out.set(head, 0)
  out.set(payload, head.length)
  return out
}

/** A subscribeRepos message frame: header {op: 1, t} and the body. */
export function encodeMessageFrame(t: EventType, body: Record<string, unknown>): Uint8Array {
  return encodeFrame({ op: 1, t }, body)
}

/** An error frame {op: -1} + {error, message}; the server closes the socket after sending it. */
export function encodeErrorFrame(error: string, message?: string): Uint8Array {
  return encodeFrame({ op: -1 }, message === undefined ? { error } : { error, message })
}

/** An `#info` message (e.g. OutdatedCursor): op 1, t '#info', never persisted, no seq. */
export function encodeInfoFrame(name: string, message?: string): Uint8Array {
  return encodeMessageFrame('#info', message === undefined ? { name } : { name, message })
}
