import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { dataPaths, secretFilePath } from '../config.js'

type Env = Record<string, string | undefined>

/**
 * `KEY=VALUE` lines of a pds.env file (the reference PDS's, or docker's --env-file): `#` comments,
 * blank lines, an optional `export `, values optionally in quotes.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, '')
    if (!line || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    let value = line.slice(eq + 1).trim()
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1)
    out[line.slice(0, eq).trim()] = value
  }
  return out
}

/**
 * The environment the server would run with: the variables of `envFile` (`--env-file`, else
 * PDS_ENV_FILE, else ./pds.env when there is one), under this process's own environment, which
 * wins. `--data-dir` sets PDS_DATA_DIRECTORY.
 */
export function cliEnvironment(opts: { envFile?: string; dataDir?: string }, processEnv: Env = process.env): Env {
  const file = opts.envFile ?? processEnv.PDS_ENV_FILE ?? (existsSync('pds.env') ? 'pds.env' : undefined)
  const fromFile = file ? parseEnvFile(readFileSync(resolve(file), 'utf8')) : {}
  const env: Env = { ...fromFile, ...processEnv }
  if (opts.dataDir !== undefined) env.PDS_DATA_DIRECTORY = resolve(opts.dataDir)
  return env
}

/** The running server's URL: `--url`, else this host's PDS_PORT (the CLI runs beside the server, in its container or on its machine). */
export function serverUrl(env: Env, url?: string): string {
  return url ?? `http://localhost:${env.PDS_PORT || 2583}`
}

/** PDS_ADMIN_PASSWORD, else the one the server generated into its data directory (readable by its owner only). */
export function adminPassword(env: Env): string | undefined {
  if (env.PDS_ADMIN_PASSWORD !== undefined) return env.PDS_ADMIN_PASSWORD
  try {
    return readFileSync(secretFilePath(dataPaths(env).dataDirectory, 'adminPassword'), 'utf8').trim()
  } catch {
    return undefined
  }
}
