import { encodeDagCbor } from '../dag-cbor.js'

export type EventType = '#commit' | '#sync' | '#identity' | '#account' | '#info'

/** A subscribeRepos message frame: DAG-CBOR header {op: 1, t} followed by the DAG-CBOR body. */
export function encodeMessageFrame(t: EventType, body: Record<string, unknown>): Uint8Array {
  const header = encodeDagCbor({ op: 1, t })
  const payload = encodeDagCbor(body)
  const out = new Uint8Array(header.length + payload.length)
  out.set(header, 0)
  out.set(payload, header.length)
  return out
}

/** An error frame {op: -1} + {error, message}; the server closes the socket after sending it. */
export function encodeErrorFrame(error: string, message?: string): Uint8Array {
  const header = encodeDagCbor({ op: -1 })
  const payload = encodeDagCbor(message === undefined ? { error } : { error, message })
  const out = new Uint8Array(header.length + payload.length)
  out.set(header, 0)
  out.set(payload, header.length)
  return out
}

/** An `#info` message (e.g. OutdatedCursor): op 1, t '#info', never persisted, no seq. */
export function encodeInfoFrame(name: string, message?: string): Uint8Array {
  return encodeMessageFrame('#info', message === undefined ? { name } : { name, message })
}
