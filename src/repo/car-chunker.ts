import { parseCid } from '@atproto/lex-data'
import { writeCidBytes, writeVarint } from './car.js'

/** Output chunk size handed to the HTTP response. */
export const CHUNK_BYTES = 256 * 1024

/** Packs CAR blocks into chunks of about CHUNK_BYTES. */
export class CarChunker {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES)
  private pos = 0
  private ready: Buffer[] = []

  constructor(first: Buffer) {
    this.ready.push(first)
  }

  /** One block: `cid` and the bytes src[start, end) (a slice of a page, copied, never re-wrapped). */
  add(cid: string, src: Buffer, start: number, end: number): void {
    const len = end - start
    // cid (≤ 100 bytes for sha2-256 CIDs) + varint (≤ 10)
    const need = len + 128
    if (this.pos + need > this.buf.length) this.flush()
    if (need > this.buf.length) {
      const big = Buffer.allocUnsafe(need)
      const n = this.frame(big, 0, cid, src, start, end)
      this.ready.push(big.subarray(0, n))
      return
    }
    this.pos += this.frame(this.buf, this.pos, cid, src, start, end)
  }

  private frame(out: Buffer, off: number, cid: string, src: Buffer, start: number, end: number): number {
    let cidLen: number
    let vl: number
    if (cid.charCodeAt(0) === 0x62 /* b */) {
      // base32 without padding: the byte length is known from the string length
      cidLen = ((cid.length - 1) * 5) >> 3
      vl = writeVarint(cidLen + end - start, out, off)
      writeCidBytes(cid, out, off + vl)
    } else {
      const bytes = parseCid(cid).bytes
      cidLen = bytes.length
      vl = writeVarint(cidLen + end - start, out, off)
      out.set(bytes, off + vl)
    }
    src.copy(out, off + vl + cidLen, start, end)
    return vl + cidLen + end - start
  }

  flush(): void {
    if (this.pos > 0) {
      this.ready.push(this.buf.subarray(0, this.pos))
      this.buf = Buffer.allocUnsafe(CHUNK_BYTES)
      this.pos = 0
    }
  }

  take(): Buffer[] {
    const out = this.ready
    this.ready = []
    return out
  }
}
