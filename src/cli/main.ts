import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { dataPaths } from '../config.js'
import { loadLexicons } from '../lexicons.js'
import { listPendingTokens } from '../mail/pending-tokens.js'
import { sendTestMail } from '../mail/test-mail.js'
import type { Admin } from './admin.js'
import { DataAdmin } from './data-admin.js'
import { openOffline, takeDataDirectory } from './data-dir.js'
import { checkDatabase } from './db-check.js'
import { adminPassword, cliEnvironment, serverUrl } from './environment.js'
import { CliError, EXIT } from './exit-codes.js'
import { HELP } from './help.js'
import { Output, table } from './output.js'
import { reindex } from './reindex.js'
import { requestCrawl } from '../firehose/crawlers.js'
import { relayStatus, type RelayReport } from './relay.js'
import { ServerAdmin, serverAnswers, XrpcClient } from './server-admin.js'

type Env = Record<string, string | undefined>

const OPTIONS = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  'data-dir': { type: 'string' },
  'env-file': { type: 'string' },
  yes: { type: 'boolean' },
  uses: { type: 'string' },
  password: { type: 'string' },
  ref: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The options as parseArgs gives them, typed from OPTIONS. */
type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values']

type Run = { args: string[]; flags: Flags; env: Env; out: Output }

function usage(message: string): never {
  throw new CliError(`${message} (carrel --help)`, EXIT.usage)
}

function arg(args: string[], i: number, name: string): string {
  const v = args[i]
  if (v === undefined) usage(`missing <${name}>`)
  return v
}

function noMore(args: string[], count: number): void {
  if (args.length > count) usage(`unexpected argument: ${args[count]}`)
}

const newPassword = () => randomBytes(18).toString('base64url')

/** The admin API of the running server, or the data directory; see the help text for how it is chosen. */
async function openAdmin(run: Run): Promise<Admin> {
  const { flags, env } = run
  if (flags['data-dir'] === undefined) {
    const url = serverUrl(env, flags.url)
    if (await serverAnswers(url)) return new ServerAdmin(new XrpcClient(url, adminPassword(env)), flags.url ? undefined : dataPaths(env).dbPath)
    if (flags.url) throw new CliError(`no Carrel server answers at ${url}`, EXIT.unavailable)
  }
  return new DataAdmin(await openOffline(env))
}

/** The running server, for what only it can do (a relay crawling it). */
async function requireServer(run: Run, what: string): Promise<string> {
  const url = serverUrl(run.env, run.flags.url)
  if (run.flags['data-dir'] !== undefined) usage(`${what} needs the running server, not --data-dir`)
  if (!(await serverAnswers(url))) throw new CliError(`${what} needs the running server; none answers at ${url} (--url)`, EXIT.unavailable)
  return url
}

async function withAdmin<T>(run: Run, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = await openAdmin(run)
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}

async function account(run: Run): Promise<number> {
  const { args, flags, out } = run
  const sub = args[1]
  switch (sub) {
    case 'list': {
      noMore(args, 2)
      const accounts = await withAdmin(run, (a) => a.listAccounts())
      out.result({ accounts }, () =>
        accounts.length === 0 ? 'no accounts' : table(['HANDLE', 'DID', 'STATUS', 'EMAIL', 'CREATED'], accounts.map((a) => [a.handle, a.did, a.status, a.email, a.createdAt])),
      )
      return EXIT.ok
    }
    case 'info': {
      noMore(args, 3)
      const info = await withAdmin(run, async (a) => a.accountInfo(await a.resolve(arg(args, 2, 'handle|did'))))
      out.result(info, () => [
        `handle:     ${info.handle}`,
        `did:        ${info.did}`,
        `email:      ${info.email}`,
        `status:     ${info.status}`,
        `created:    ${info.createdAt}`,
        ...(info.rev ? [`rev:        ${info.rev}`] : []),
        ...(info.deactivatedAt ? [`deactivated: ${info.deactivatedAt}`] : []),
        ...(info.takedownRef ? [`takedown:   ${info.takedownRef}`] : []),
        `invites:    ${info.invitesDisabled ? 'disabled' : info.invites.map((i) => `${i.code} (${i.available - i.uses} left)`).join(', ') || 'none'}`,
      ])
      return EXIT.ok
    }
    case 'create': {
      noMore(args, 4)
      const handle = arg(args, 2, 'handle')
      const email = arg(args, 3, 'email')
      const password = flags.password ?? newPassword()
      const created = await withAdmin(run, (a) => a.createAccount({ handle, email, password }))
      out.result({ ...created, password }, () => [`created ${created.handle} ${created.did}`, `password: ${password}`])
      return EXIT.ok
    }
    case 'deactivate':
    case 'activate':
    case 'takedown':
    case 'untakedown': {
      noMore(args, 3)
      const result = await withAdmin(run, async (a) => {
        const did = await a.resolve(arg(args, 2, 'handle|did'))
        if (sub === 'deactivate' || sub === 'activate') await a.setDeactivated(did, sub === 'deactivate')
        else await a.setTakedown(did, sub === 'takedown', flags.ref)
        return { did, status: (await a.accountInfo(did)).status }
      })
      out.result(result, () => `${args[2]} (${result.did}): ${result.status}`)
      return EXIT.ok
    }
    case 'delete': {
      noMore(args, 3)
      const target = arg(args, 2, 'handle|did')
      if (!flags.yes) usage(`account delete removes ${target} and all its data: add --yes to confirm`)
      const did = await withAdmin(run, async (a) => {
        const did = await a.resolve(target)
        await a.deleteAccount(did)
        return did
      })
      out.result({ did, deleted: true }, () => `${did}: deleted`)
      return EXIT.ok
    }
    case 'reset-password': {
      noMore(args, 3)
      const password = flags.password ?? newPassword()
      const did = await withAdmin(run, async (a) => {
        const did = await a.resolve(arg(args, 2, 'handle|did'))
        await a.setPassword(did, password)
        return did
      })
      out.result({ did, password }, () => [`${did}: password changed, every session ended`, `password: ${password}`])
      return EXIT.ok
    }
    default:
      usage(sub ? `unknown account command: ${sub}` : 'missing account command')
  }
}

async function invite(run: Run): Promise<number> {
  const { args, flags, out } = run
  if (args[1] !== 'create') usage(args[1] ? `unknown invite command: ${args[1]}` : 'missing invite command')
  noMore(args, 2)
  const uses = flags.uses === undefined ? 1 : Number(flags.uses)
  if (!Number.isSafeInteger(uses) || uses < 1) usage(`--uses must be a positive integer, got ${flags.uses}`)
  const code = await withAdmin(run, (a) => a.createInvite(uses))
  out.result({ code, uses }, () => code)
  return EXIT.ok
}

async function exportRepo(run: Run): Promise<number> {
  const { args, out } = run
  noMore(args, 3)
  const target = arg(args, 1, 'handle|did')
  const file = arg(args, 2, 'file.car')
  const result = await withAdmin(run, async (a) => a.exportRepo(await a.resolve(target), file))
  out.result(result, () => `${result.did}: ${result.bytes} bytes written to ${result.file}`)
  return EXIT.ok
}

async function db(run: Run): Promise<number> {
  const { args, out, env } = run
  if (args[1] !== 'check') usage(args[1] ? `unknown db command: ${args[1]}` : 'missing db command')
  noMore(args, 2)
  const taken = takeDataDirectory(env)
  let report
  try {
    const { lexicons } = await loadLexicons()
    report = await checkDatabase(taken.dbPath, lexicons, { progress: !out.json && process.stderr.isTTY === true })
  } finally {
    taken.release()
  }
  out.result({ dbPath: taken.dbPath, ...report }, () => [
    ...report.faults.map((f) => `FAULT ${f.where}: ${f.what}`),
    `${report.ok ? 'ok' : `${report.faults.length} fault(s)`}: ${report.repos} repos, ${report.blocks} blocks, ${report.records} records checked in ${taken.dbPath}`,
  ])
  return report.ok ? EXIT.ok : EXIT.problems
}

async function reindexCommand(run: Run): Promise<number> {
  noMore(run.args, 1)
  const taken = takeDataDirectory(run.env)
  try {
    const report = await reindex(taken.dbPath)
    run.out.result(report, () => `reindex: library: ${report.books} books indexed from ${report.records.library ?? 0} records, app updates: ${report.records.updates ?? 0} records, in ${report.ms} ms`)
  } finally {
    taken.release()
  }
  return EXIT.ok
}

function relaysOf(run: Run, given: string[]): string[] {
  const relays = given.length > 0 ? given : (run.env.PDS_CRAWLERS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  if (relays.length === 0) usage('no relay: name one, or set PDS_CRAWLERS')
  return relays.map((r) => (/^https?:\/\//.test(r) ? r : `https://${r}`))
}

const hostnameOf = (env: Env) => (env.PDS_HOSTNAME || 'localhost').toLowerCase()

async function requestCrawlCommand(run: Run): Promise<number> {
  const relays = relaysOf(run, run.args.slice(1))
  await requireServer(run, 'request-crawl')
  const results = await Promise.all(relays.map((r) => requestCrawl(r, hostnameOf(run.env))))
  run.out.result({ hostname: hostnameOf(run.env), results }, () => results.map((r) => `${r.relay}: ${r.ok ? 'crawl requested' : `failed: ${r.error}`}`))
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed
}

async function relayReports(admin: Admin, run: Run, relays: string[]): Promise<RelayReport[]> {
  const accounts = await admin.listAccounts()
  const seq = await admin.latestSeq()
  const reports: RelayReport[] = []
  for (const relay of relays) reports.push(await relayStatus(relay, hostnameOf(run.env), accounts, seq, { progress: !run.out.json && process.stderr.isTTY === true }))
  return reports
}

function describeReport(r: RelayReport): string[] {
  const host = r.host.error ? `host status unavailable: ${r.host.error}` : `host ${r.host.status ?? '?'}, seq ${r.host.seq ?? '?'}${r.ourSeq !== undefined ? ` (ours ${r.ourSeq}${r.hostBehind ? ', behind' : ''})` : ''}, ${r.host.accountCount ?? '?'} accounts`
  const lines = [`${r.relay}: ${host}; ${r.accountsChecked} accounts checked, ${r.accounts.length} with a problem`]
  if (r.accounts.length > 0) {
    lines.push(
      ...table(
        ['  PROBLEM', 'HANDLE', 'DID', 'OUR REV', 'RELAY REV', 'RELAY STATUS'],
        r.accounts.map((a) => [`  ${a.problem}`, a.handle, a.did, a.ours.rev, a.relay.rev, a.relay.error ?? a.relay.status ?? (a.relay.active === false ? 'inactive' : 'active')]),
      ),
    )
  }
  return lines
}

async function relay(run: Run): Promise<number> {
  const { args, out } = run
  const sub = args[1]
  if (sub !== 'status' && sub !== 'resync') usage(sub ? `unknown relay command: ${sub}` : 'missing relay command')
  const relays = relaysOf(run, args.slice(2))
  if (sub === 'status') {
    const reports = await withAdmin(run, (a) => relayReports(a, run, relays))
    out.result({ relays: reports }, () => reports.flatMap(describeReport))
    return reports.every((r) => r.ok) ? EXIT.ok : EXIT.problems
  }
  await requireServer(run, 'relay resync')
  const results = await withAdmin(run, async (a) => {
    const reports = await relayReports(a, run, relays)
    const resynced = []
    for (const report of reports) {
      // what the relay holds wrong of an account: its current state, announced again
      const dids = [...new Set(report.accounts.filter((x) => x.problem !== 'error').map((x) => x.did))]
      for (const did of dids) await a.announce(did)
      const crawl = await requestCrawl(report.relay, hostnameOf(run.env))
      resynced.push({ relay: report.relay, resynced: dids, crawl })
    }
    return resynced
  })
  out.result({ relays: results }, () =>
    results.map((r) => `${r.relay}: #sync for ${r.resynced.length} account(s)${r.resynced.length ? ` (${r.resynced.join(', ')})` : ''}; crawl ${r.crawl.ok ? 'requested' : `failed: ${r.crawl.error}`}`),
  )
  return results.every((r) => r.crawl.ok) ? EXIT.ok : EXIT.failed
}

async function email(run: Run): Promise<number> {
  const { args, env, out } = run
  const sub = args[1]
  if (sub === 'test') {
    noMore(args, 3)
    const to = arg(args, 2, 'address')
    let result
    try {
      result = await sendTestMail({ emailSmtpUrl: env.PDS_EMAIL_SMTP_URL || undefined, emailFromAddress: env.PDS_EMAIL_FROM_ADDRESS || undefined, hostname: hostnameOf(env) }, to)
    } catch (err) {
      throw new CliError((err as Error).message, EXIT.failed)
    }
    if (!result.sent) {
      throw new CliError('no mail configured (PDS_EMAIL_SMTP_URL and PDS_EMAIL_FROM_ADDRESS): tokens go to the outbox, see `carrel email tokens`', EXIT.failed)
    }
    out.result({ to, ...result }, () => `sent to ${to}: ${result.response}`)
    return EXIT.ok
  }
  if (sub === 'tokens') {
    noMore(args, 2)
    const tokens = listPendingTokens(dataPaths(env).dataDirectory)
    out.result({ tokens }, () =>
      tokens.length === 0 ? 'no pending tokens' : table(['PURPOSE', 'DID', 'TO', 'TOKEN', 'EXPIRES'], tokens.map((t) => [t.purpose, t.did, t.to, t.token, t.expired ? `${t.expiresAt} (expired)` : t.expiresAt])),
    )
    return EXIT.ok
  }
  usage(sub ? `unknown email command: ${sub}` : 'missing email command')
}

const COMMANDS: Record<string, (run: Run) => Promise<number>> = {
  account,
  invite,
  export: exportRepo,
  db,
  reindex: reindexCommand,
  'request-crawl': requestCrawlCommand,
  relay,
  email,
}

/** Runs one command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json')
  try {
    let parsed
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
    } catch (err) {
      usage((err as Error).message)
    }
    const flags: Flags = parsed.values
    json = flags.json === true
    const args = parsed.positionals
    if (flags.help || args.length === 0) {
      process.stdout.write(HELP)
      return args.length === 0 && !flags.help ? EXIT.usage : EXIT.ok
    }
    const command = COMMANDS[args[0]!]
    if (!command) usage(`unknown command: ${args[0]}`)
    const env = cliEnvironment({ envFile: flags['env-file'], dataDir: flags['data-dir'] })
    return await command({ args, flags, env, out: new Output(json) })
  } catch (err) {
    const cliError = err instanceof CliError ? err : new CliError((err as Error)?.message ?? String(err), EXIT.failed)
    if (json) process.stdout.write(JSON.stringify({ error: cliError.error ?? 'Failed', message: cliError.message, exitCode: cliError.code }) + '\n')
    process.stderr.write(`carrel: ${cliError.message}\n`)
    return cliError.code
  }
}
