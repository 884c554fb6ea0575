// A small authoritative DNS server on 127.0.0.1 (UDP) for tests: answers A, AAAA and TXT
// questions from a function, can stay silent, and records every question it was asked.
import { createSocket } from 'node:dgram'
import ipaddr from 'ipaddr.js'

export type DnsRecords = { A?: string[]; AAAA?: string[]; TXT?: string[][] }
/** records for the name (an empty list of the asked type = NODATA), 'nxdomain', or 'silent' (no answer at all) */
export type DnsAnswer = DnsRecords | 'nxdomain' | 'silent'
export type DnsQuestion = { name: string; type: string }

export type DnsServer = {
  /** `127.0.0.1:<port>`, for `dns.setServers` / `Resolver.setServers` */
  address: string
  questions: DnsQuestion[]
  close(): Promise<void>
}

const TYPES: Record<number, string> = { 1: 'A', 16: 'TXT', 28: 'AAAA' }
const CODES: Record<string, number> = { A: 1, TXT: 16, AAAA: 28 }

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = []
  let i = offset
  while (msg[i] !== 0) {
    const len = msg[i]
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'))
    i += 1 + len
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 }
}

function rdataOf(type: string, value: string | string[]): Buffer {
  if (type === 'A' || type === 'AAAA') {
    const ip = ipaddr.parse(value as string)
    if (ip.kind() !== (type === 'A' ? 'ipv4' : 'ipv6')) throw new Error(`not an ${type} address: ${value}`)
    return Buffer.from(ip.toByteArray())
  }
  // TXT: one record is a list of character-strings of at most 255 bytes each
  return Buffer.concat(
    (value as string[]).map((chunk) => {
      const bytes = Buffer.from(chunk, 'latin1')
      if (bytes.length > 255) throw new Error('TXT character-string longer than 255 bytes')
      return Buffer.concat([Buffer.from([bytes.length]), bytes])
    }),
  )
}

function response(
  query: Buffer,
  questionEnd: number,
  rcode: number,
  type: string,
  values: (string | string[])[],
): Buffer {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(query.readUInt16BE(0), 0)
  // QR, opcode 0, AA, RD copied from the query, RA, rcode
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(values.length, 6)
  const answers = values.map((v) => {
    const rdata = rdataOf(type, v)
    const rr = Buffer.alloc(12)
    rr.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
    rr.writeUInt16BE(CODES[type], 2)
    rr.writeUInt16BE(1, 4) // class IN
    rr.writeUInt32BE(0, 6) // TTL 0: nothing is cached between tests
    rr.writeUInt16BE(rdata.length, 10)
    return Buffer.concat([rr, rdata])
  })
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers])
}

export async function startDnsServer(
  answer: (name: string, type: string) => DnsAnswer | Promise<DnsAnswer>,
): Promise<DnsServer> {
  const socket = createSocket('udp4')
  const questions: DnsQuestion[] = []
  let closed = false
  socket.on('message', async (msg, peer) => {
    if (msg.length < 17) return
    const { name, end } = readName(msg, 12)
    const qtype = msg.readUInt16BE(end)
    const type = TYPES[qtype] ?? String(qtype)
    questions.push({ name, type })
    const result = await answer(name, type)
    if (result === 'silent' || closed) return
    const questionEnd = end + 4
    const reply =
      result === 'nxdomain'
        ? response(msg, questionEnd, 3, type, [])
        : response(msg, questionEnd, 0, type, (result as Record<string, (string | string[])[]>)[type] ?? [])
    // an answer too large for one datagram (over ~64 KB) is dropped, as a real server's would be
    socket.send(reply, peer.port, peer.address, () => {})
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return {
    address: `127.0.0.1:${socket.address().port}`,
    questions,
    close: () => {
      closed = true
      return new Promise<void>((resolve) => socket.close(() => resolve()))
    },
  }
}

/**
 * A server that answers TXT questions from `txt` (name -> records, read at each question, so a
 * test changes the answers by changing the map) and NXDOMAIN to any other question or name.
 */
export function startTxtDnsServer(txt: ReadonlyMap<string, string[][]>): Promise<DnsServer> {
  return startDnsServer((name, type) => {
    if (type !== 'TXT') return 'nxdomain'
    const records = txt.get(name)
    return records ? { TXT: records } : 'nxdomain'
  })
}
