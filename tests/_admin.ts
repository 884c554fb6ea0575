// Helpers for the admin API tests: HTTP Basic credentials and an @atproto/api agent that sends them.
import { AtpAgent } from '@atproto/api'

export const ADMIN_PASSWORD = 'admin-password-for-tests'

export const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')

export const ADMIN_AUTH = basic('admin', ADMIN_PASSWORD)

/** An agent whose every call carries `Authorization: Basic admin:<PDS_ADMIN_PASSWORD>`. */
export function adminAgent(url: string, authorization = ADMIN_AUTH): AtpAgent {
  return new AtpAgent({ service: url, headers: [['authorization', authorization]] })
}
