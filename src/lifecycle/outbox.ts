import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export type OutboxMessage = { to: string; subject: string; body: string }

/**
 * Messages for account holders while this server has no mail (embedded mode, or no mail
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
    const text = `To: ${message.to}\nSubject: ${message.subject}\n\n${message.body}\n`
    writeFileSync(temp, text, { mode: 0o600 })
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
}

function fileSafe(did: string): string {
  return did.replace(/[^a-zA-Z0-9._-]/g, '_')
}
