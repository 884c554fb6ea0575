import { INVALID_HANDLE, isValidHandle, isValidTld } from '@atproto/syntax'
import { InvalidRequestError } from '@atproto/xrpc-server'

export const HANDLE_NAME_MIN = 3
export const HANDLE_NAME_MAX = 18

/** Names under our own domains that nobody may register (they look like the service). */
const RESERVED_NAMES = new Set([
  'admin',
  'administrator',
  'root',
  'support',
  'help',
  'security',
  'abuse',
  'postmaster',
  'hostmaster',
  'webmaster',
  'www',
  'api',
  'pds',
  'plc',
  'carrel',
  'system',
  'moderator',
  'mod',
  'staff',
])

/**
 * Lowercase `handle` and check it can be registered here, as `<name><service domain>`.
 * Throws InvalidHandle (syntax, disallowed TLD, bad name), UnsupportedDomain (a domain this
 * server does not serve) or HandleNotAvailable (reserved).
 */
export function normalizeAndValidateHandle(input: string, serviceDomains: string[]): string {
  const handle = input.trim().toLowerCase()
  if (handle === INVALID_HANDLE) throw new InvalidRequestError('Handle is reserved', 'HandleNotAvailable')
  if (!isValidHandle(handle)) throw new InvalidRequestError('Handle is not valid', 'InvalidHandle')
  const domain = serviceDomains.find((d) => handle.endsWith(d))
  // .test is fine when it is one of our (development) domains; other reserved TLDs never are
  if (!domain && !isValidTld(handle)) {
    throw new InvalidRequestError('Handle TLD is invalid or disallowed', 'InvalidHandle')
  }
  if (!domain) {
    throw new InvalidRequestError(
      `Not a supported handle domain; use one of: ${serviceDomains.join(', ')}`,
      'UnsupportedDomain',
    )
  }
  const name = handle.slice(0, -domain.length)
  if (name.includes('.')) throw new InvalidRequestError('Invalid characters in handle', 'InvalidHandle')
  if (name.length < HANDLE_NAME_MIN) throw new InvalidRequestError('Handle too short', 'InvalidHandle')
  if (name.length > HANDLE_NAME_MAX) throw new InvalidRequestError('Handle too long', 'InvalidHandle')
  if (RESERVED_NAMES.has(name)) throw new InvalidRequestError('Reserved handle', 'HandleNotAvailable')
  return handle
}

/**
 * A handle an existing account may change to: one under our domains, with every rule of
 * `normalizeAndValidateHandle`, or one on any other domain with a valid syntax and TLD, which
 * the caller must then see resolve to the account (`external`).
 */
export function normalizeHandleChange(input: string, serviceDomains: string[]): { handle: string; external: boolean } {
  const handle = input.trim().toLowerCase()
  if (isServiceHandle(handle, serviceDomains)) {
    return { handle: normalizeAndValidateHandle(handle, serviceDomains), external: false }
  }
  if (handle === INVALID_HANDLE) throw new InvalidRequestError('Handle is reserved', 'HandleNotAvailable')
  if (!isValidHandle(handle)) throw new InvalidRequestError('Handle is not valid', 'InvalidHandle')
  if (!isValidTld(handle)) throw new InvalidRequestError('Handle TLD is invalid or disallowed', 'InvalidHandle')
  return { handle, external: true }
}

export function isServiceHandle(handle: string, serviceDomains: string[]): boolean {
  return serviceDomains.some((d) => handle.endsWith(d))
}
