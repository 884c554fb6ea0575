import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// A stand-in until the mail room lands (its `listPendingTokens` has this signature): reads the
// messages the server put in `<data>/outbox/` because no mail is configured.

export type PendingToken = {
  did: string
  /** what the token is for: the outbox file's kind (e.g. `delete-account`, `plc-operation`) */
  purpose: string
  to: string
  subject: string
  token: string
  /** ISO 8601 */
  expiresAt: string
  expired: boolean
  /** the outbox file holding the whole message */
  file: string
}

/** The tokens waiting in the outbox of `dataDirectory`, newest expiry first. Reads files only: works whether the server runs or not. */
export function listPendingTokens(dataDirectory: string, now = Date.now()): PendingToken[] {
  const dir = join(dataDirectory, 'outbox')
  if (!existsSync(dir)) return []
  const out: PendingToken[] = []
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.txt')) continue
    const file = join(dir, name)
    const text = readFileSync(file, 'utf8')
    const header = (key: string) => new RegExp(`^${key}: (.*)$`, 'm').exec(text)?.[1]?.trim()
    const token = header('Token')
    const expiresAt = /until (\d{4}-\d{2}-\d{2}T[0-9:.]+Z)/.exec(text)?.[1]
    const did = /\((did:[a-z]+:[^)\s]+)\)/.exec(text)?.[1]
    if (!token || !expiresAt || !did) continue
    out.push({
      did,
      purpose: name.slice(0, name.indexOf('-did_')) || name,
      to: header('To') ?? '',
      subject: header('Subject') ?? '',
      token,
      expiresAt,
      expired: Date.parse(expiresAt) <= now,
      file,
    })
  }
  return out.sort((a, b) => b.expiresAt.localeCompare(a.expiresAt))
}
