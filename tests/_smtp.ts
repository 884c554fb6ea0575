// A real SMTP server on 127.0.0.1 (smtp-server) for the mail tests: it keeps every message it
// takes, can refuse chosen recipients (550 at RCPT TO), and decodes the text and HTML parts of a
// message so that a test reads the token from the mail as its recipient would.
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export type ReceivedMail = { from: string; to: string[]; headers: Record<string, string>; subject: string; text: string; html: string; raw: string }

export type TestSmtp = {
  url: string
  mails: ReceivedMail[]
  /** recipients answered 550 at RCPT TO */
  refused: Set<string>
  /** the next message to `to` that arrives (or already arrived and was not taken yet) */
  take(to: string): Promise<ReceivedMail>
  close(): Promise<void>
}

export async function startSmtp(): Promise<TestSmtp> {
  const mails: ReceivedMail[] = []
  const taken = new Set<ReceivedMail>()
  const waiters: (() => void)[] = []
  const refused = new Set<string>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (refused.has(address.address.toLowerCase())) {
        const err = Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 })
        return callback(err)
      }
      callback()
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : ''
        mails.push({ ...parseMessage(raw), raw, from, to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()) })
        for (const wake of waiters.splice(0)) wake()
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    refused,
    async take(to: string) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const mail = mails.find((m) => !taken.has(m) && m.to.includes(to.toLowerCase()))
        if (mail) {
          taken.add(mail)
          return mail
        }
        if (Date.now() > deadline) throw new Error(`no mail to ${to} arrived`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** The XXXXX-XXXXX token in a mail's text part (and the same one in its HTML part). */
export function tokenOf(mail: ReceivedMail): string {
  const inText = /\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/.exec(mail.text)?.[1]
  const inHtml = /\b([A-Z2-7]{5}-[A-Z2-7]{5})\b/.exec(mail.html)?.[1]
  if (!inText || inText !== inHtml) throw new Error(`no token, or different ones, in the mail:\n${mail.raw}`)
  return inText
}

type Part = { headers: Record<string, string>; body: string }

function splitHead(raw: string): Part {
  const at = raw.indexOf('\r\n\r\n')
  const head = at < 0 ? raw : raw.slice(0, at)
  const body = at < 0 ? '' : raw.slice(at + 4)
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { headers, body }
}

function decodeBody(part: Part): string {
  const encoding = (part.headers['content-transfer-encoding'] ?? '7bit').toLowerCase()
  if (encoding === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8')
  if (encoding === 'quoted-printable') {
    const bytes = part.body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    return Buffer.from(bytes, 'latin1').toString('utf8')
  }
  return part.body
}

function parseMessage(raw: string): { headers: Record<string, string>; subject: string; text: string; html: string } {
  const top = splitHead(raw)
  const parts: Part[] = []
  const boundary = /boundary="?([^";]+)"?/.exec(top.headers['content-type'] ?? '')?.[1]
  if (boundary) {
    for (const chunk of top.body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break
      parts.push(splitHead(chunk.replace(/^\r\n/, '')))
    }
  } else {
    parts.push(top)
  }
  const find = (type: string) => {
    const part = parts.find((p) => (p.headers['content-type'] ?? 'text/plain').startsWith(type))
    return part ? decodeBody(part).replace(/\r\n/g, '\n') : ''
  }
  return { headers: top.headers, subject: top.headers['subject'] ?? '', text: find('text/plain'), html: find('text/html') }
}
