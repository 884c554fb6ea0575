import { isUtf8 } from 'node:buffer'
import { CID } from 'multiformats/cid'
import { cidToString } from './cid.js'
import { recordBytesToJson } from './record-json.js'

/**
 * JSON written as UTF-8 bytes into one growing buffer: a getChanges page is built here, its
 * records copied across from their DAG-CBOR blocks without becoming JavaScript values.
 */
export class JsonBytes {
  private buf = Buffer.allocUnsafe(64 * 1024)
  length = 0

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n))
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }

  /** ASCII text that needs no JSON escaping (numbers, CIDs, base64, punctuation): one byte a character. */
  ascii(s: string): void {
    const n = s.length
    this.ensure(n)
    // short pieces byte by byte: Buffer#write costs more than copying a few characters
    if (n < 32) {
      const buf = this.buf
      let at = this.length
      for (let i = 0; i < n; i++) buf[at++] = s.charCodeAt(i)
      this.length = at
    } else {
      this.length += this.buf.write(s, this.length, 'latin1')
    }
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.length++] = b
  }

  /** Any string as a JSON string literal. */
  string(s: string): void {
    const n = s.length
    if (n < 128) {
      // the common case (revs, CIDs, NSIDs, record keys): printable ASCII, nothing to escape
      this.ensure(n + 2)
      const buf = this.buf
      let at = this.length
      buf[at++] = QUOTE
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return this.json(JSON.stringify(s))
        buf[at++] = c
      }
      buf[at++] = QUOTE
      this.length = at
      return
    }
    this.json(JSON.stringify(s))
  }

  /** JSON text as it is. */
  json(text: string): void {
    this.ensure(Buffer.byteLength(text))
    this.length += this.buf.write(text, this.length, 'utf8')
  }

  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start
    this.ensure(n)
    if (n < 32) {
      const buf = this.buf
      let at = this.length
      for (let i = start; i < end; i++) buf[at++] = src[i]!
      this.length = at
    } else {
      this.length += src.copy(this.buf, this.length, start, end)
    }
  }

  /** Back to `length` (what a failed attempt wrote is dropped). */
  truncate(length: number): void {
    this.length = length
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

/**
 * Writes a stored record (DAG-CBOR) as the JSON that `recordBytesToJson` and JSON.stringify make
 * (CID links as `{"$link"}`, bytes as `{"$bytes"}` base64 without padding; a map's keys in the
 * block's order), straight from the bytes. Decoding each record into objects and converting them
 * again was the largest part of a 1,000-change getChanges page, with its garbage. Anything
 * outside what the write path stores (floats, indefinite lengths, tags other than 42, integers
 * past 2^53, keys that are not strings, text that is not UTF-8, a top level that is not a map)
 * is left to the library. `tests/record-json-text.test.ts` compares the two on random values.
 */
export function writeRecordJson(out: JsonBytes, bytes: Uint8Array): void {
  const start = out.length
  if (bytes.length > 0 && bytes[0]! >> 5 === MAP) {
    const reader = new Reader(bytes, out)
    if (reader.value() && reader.pos === bytes.length) return
  }
  // what the library says (or throws), with what the attempt wrote dropped
  out.truncate(start)
  out.json(JSON.stringify(recordBytesToJson(bytes)))
}

/** A stored record as a JSON value (parsed from {@link writeRecordJson}'s text: every character kept). */
export function recordJsonValue(bytes: Uint8Array): unknown {
  const out = new JsonBytes()
  writeRecordJson(out, bytes)
  return JSON.parse(out.toBuffer().toString('utf8'))
}

/** Any DAG-CBOR value as JSON text, or undefined where the library must decide. For the test. */
export function cborJsonText(bytes: Uint8Array): string | undefined {
  const out = new JsonBytes()
  const reader = new Reader(bytes, out)
  return reader.value() && reader.pos === bytes.length ? out.toBuffer().toString('utf8') : undefined
}

const UINT = 0
const NEGINT = 1
const BYTES = 2
const TEXT = 3
const ARRAY = 4
const MAP = 5
const TAG = 6
const SIMPLE = 7
const CID_TAG = 42

const QUOTE = 0x22
const BACKSLASH = 0x5c
const HEX = '0123456789abcdef'
/** JSON.stringify's short escapes for control characters */
const SHORT_ESCAPES: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r' }

/** Reads one value and writes it; `false` anywhere means "not handled here" (never a wrong answer). */
class Reader {
  pos = 0
  private buf: Buffer

  constructor(
    bytes: Uint8Array,
    private out: JsonBytes,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** The argument of a head whose first byte was just read (advancing past it); -1 when not a definite, safe one. */
  private arg(minor: number): number {
    if (minor < 24) return minor
    const width = minor === 24 ? 1 : minor === 25 ? 2 : minor === 26 ? 4 : minor === 27 ? 8 : 0
    const at = this.pos
    if (width === 0 || at + width > this.buf.length) return -1
    const n =
      width === 1
        ? this.buf[at]!
        : width === 2
          ? this.buf.readUInt16BE(at)
          : width === 4
            ? this.buf.readUInt32BE(at)
            : this.buf.readUInt32BE(at) * 2 ** 32 + this.buf.readUInt32BE(at + 4)
    if (!Number.isSafeInteger(n)) return -1
    this.pos += width
    return n
  }

  value(): boolean {
    const buf = this.buf
    const out = this.out
    if (this.pos >= buf.length) return false
    const head = buf[this.pos++]!
    const major = head >> 5
    const minor = head & 31
    if (major === SIMPLE) {
      if (minor === 20) out.ascii('false')
      else if (minor === 21) out.ascii('true')
      else if (minor === 22) out.ascii('null')
      else return false
      return true
    }
    const n = this.arg(minor)
    if (n < 0) return false
    switch (major) {
      case UINT:
        out.ascii(String(n))
        return true
      case NEGINT:
        if (n >= Number.MAX_SAFE_INTEGER) return false
        out.ascii(String(-1 - n))
        return true
      case TEXT:
        return this.text(n)
      case BYTES: {
        if (this.pos + n > buf.length) return false
        const b64 = buf.toString('base64', this.pos, this.pos + n)
        this.pos += n
        let end = b64.length
        while (end > 0 && b64.charCodeAt(end - 1) === 61 /* = */) end--
        out.ascii('{"$bytes":"')
        out.ascii(end === b64.length ? b64 : b64.slice(0, end))
        out.ascii('"}')
        return true
      }
      case ARRAY:
        out.byte(0x5b) // [
        for (let i = 0; i < n; i++) {
          if (i > 0) out.byte(0x2c) // ,
          if (!this.value()) return false
        }
        out.byte(0x5d) // ]
        return true
      case MAP:
        out.byte(0x7b) // {
        for (let i = 0; i < n; i++) {
          if (i > 0) out.byte(0x2c) // ,
          if (this.pos >= buf.length || buf[this.pos]! >> 5 !== TEXT) return false
          const keyLength = this.arg(buf[this.pos++]! & 31)
          // JSON.parse would make `__proto__` a key, the library's decoder a prototype: the library decides
          if (keyLength < 0 || (keyLength === 9 && buf.toString('latin1', this.pos, this.pos + 9) === '__proto__')) return false
          if (!this.text(keyLength)) return false
          out.byte(0x3a) // :
          if (!this.value()) return false
        }
        out.byte(0x7d) // }
        return true
      case TAG: {
        if (n !== CID_TAG || this.pos >= buf.length || buf[this.pos]! >> 5 !== BYTES) return false
        const length = this.arg(buf[this.pos++]! & 31)
        // a CID link's bytes start with the multibase identity prefix 0x00
        if (length < 2 || this.pos + length > buf.length || buf[this.pos] !== 0) return false
        let link: string
        try {
          link = cidToString(CID.decode(buf.subarray(this.pos + 1, this.pos + length)) as never)
        } catch {
          return false
        }
        this.pos += length
        out.ascii('{"$link":"')
        out.ascii(link)
        out.ascii('"}')
        return true
      }
      default:
        return false
    }
  }

  /** A text string of `length` bytes as a JSON string literal: its UTF-8 copied, escaped as JSON.stringify escapes. */
  private text(length: number): boolean {
    const buf = this.buf
    const start = this.pos
    const end = start + length
    if (end > buf.length) return false
    // every byte is the record's: a leading U+FEFF is text like any other (the library's decoder,
    // through TextDecoder, drops it, which is why records are not served through it)
    let plain = true
    let ascii = true
    for (let i = start; i < end; i++) {
      const b = buf[i]!
      if (b < 0x20 || b === QUOTE || b === BACKSLASH) plain = false
      else if (b >= 0x80) ascii = false
    }
    if (!ascii && !isUtf8(buf.subarray(start, end))) return false
    const out = this.out
    out.byte(QUOTE)
    if (plain) {
      out.bytes(buf, start, end)
    } else {
      let run = start
      for (let i = start; i < end; i++) {
        const b = buf[i]!
        if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) continue
        out.bytes(buf, run, i)
        run = i + 1
        if (b === QUOTE) out.ascii('\\"')
        else if (b === BACKSLASH) out.ascii('\\\\')
        else out.ascii(SHORT_ESCAPES[b] ?? `\\u00${HEX[b >> 4]}${HEX[b & 15]}`)
      }
      out.bytes(buf, run, end)
    }
    out.byte(QUOTE)
    this.pos = end
    return true
  }
}
