import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A message for an account holder. `headers` are extra lines above the body (the account, the
 * token and its expiry for a token's message), so that the operator's tools read them without
 * parsing prose.
 */
export type OutboxMessage = { to: string; subject: string; body: string; headers?: Record<string, string> }

export type StoredMessage = { file: string; to: string; subject: string; headers: Record<string, string>; body: string }

/**
 * Messages for account holders while this server has no mail (embedded mode, or no SMTP
 * configured): one text file per account and kind in `<data>/outbox/`, folder 0700 and files
 * 0600 like the secrets beside it, for the operator to read and pass on. A newer message of the
 * same kind replaces the older one; `remove` drops it once it has served.
 */
export class Outbox {
  readonly dir: string

  constructor(dataDirectory: string) {
    this.dir = join(dataDirectory, 'outbox')
  }

  /** e.g. `plc-operation-did_plc_abc.txt`: the DID with `:` made safe for every file system */
  pathOf(kind: string, did: string): string {
    return join(this.dir, `${kind}-${fileSafe(did)}.txt`)
  }

  /** Written beside its place and renamed into it: a reader never sees half a message. */
  put(kind: string, did: string, message: OutboxMessage): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const path = this.pathOf(kind, did)
    const temp = `${path}.tmp`
    const headers = { To: message.to, Subject: message.subject, ...message.headers }
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${oneLine(value)}`)
    writeFileSync(temp, `${head.join('\n')}\n\n${message.body}\n`, { mode: 0o600 })
    renameSync(temp, path)
    return path
  }

  remove(kind: string, did: string): void {
    rmSync(this.pathOf(kind, did), { force: true })
  }

  /** Every message waiting for `did`, whatever its kind (the account is gone). */
  removeAll(did: string): void {
    if (!existsSync(this.dir)) return
    const suffix = `-${fileSafe(did)}.txt`
    for (const name of readdirSync(this.dir)) if (name.endsWith(suffix)) rmSync(join(this.dir, name), { force: true })
  }

  /** Every message waiting, oldest name first; files that are not messages are skipped. */
  list(): StoredMessage[] {
    if (!existsSync(this.dir)) return []
    const out: StoredMessage[] = []
    for (const name of readdirSync(this.dir).sort()) {
      if (!name.endsWith('.txt')) continue
      const file = join(this.dir, name)
      const parsed = parseMessage(readFileSync(file, 'utf8'))
      if (parsed) out.push({ file, ...parsed })
    }
    return out
  }
}

function parseMessage(text: string): Omit<StoredMessage, 'file'> | undefined {
  const split = text.indexOf('\n\n')
  if (split < 0) return undefined
  const headers: Record<string, string> = {}
  for (const line of text.slice(0, split).split('\n')) {
    const colon = line.indexOf(': ')
    if (colon > 0) headers[line.slice(0, colon)] = line.slice(colon + 2)
  }
  const { To: to, Subject: subject, ...rest } = headers
  if (to === undefined || subject === undefined) return undefined
  return { to, subject, headers: rest, body: text.slice(split + 2).replace(/\n$/, '') }
}

/** A header value never spans lines: a line break in it could forge the headers below it. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ')
}

function fileSafe(did: string): string {
  return did.replace(/[^a-zA-Z0-9._-]/g, '_')
}
