// Semantic versions (semver.org 2.0.0), parsed and compared by the `semver` package. What it
// cannot give is a sortable key for the query tables, so that "newer than the device's version"
// is one index range in SQLite: versionKey builds one from the package's parse, and
// tests/updates-semver.test.ts checks its order against the package's compare.
import { compare, parse, type SemVer } from 'semver'

export type Version = SemVer

/**
 * The version written exactly (the package also takes 'v1.2.3' and surrounding blanks), with
 * every number within what the package compares exactly: a numeric pre-release identifier of 2^53
 * or more it keeps as a string and compares as a rounded float, so it is refused here.
 */
function parseExact(v: string): SemVer | undefined {
  const parsed = parse(v)
  if (!parsed) return undefined
  const written = parsed.build.length === 0 ? parsed.version : `${parsed.version}+${parsed.build.join('.')}`
  if (written !== v) return undefined
  if (parsed.prerelease.some((id) => typeof id === 'string' && /^\d+$/.test(id))) return undefined
  return parsed
}

/** A release's version: build metadata is refused, as it is part of the record key, which cannot hold '+'. */
export function parseVersion(v: string): Version | undefined {
  const parsed = parseExact(v)
  return parsed && parsed.build.length === 0 ? parsed : undefined
}

/** The version a device says it runs: build metadata is allowed, and takes no part in precedence (item 10). */
export function parseRunningVersion(v: string): Version | undefined {
  return parseExact(v)
}

export function isPrerelease(v: Version): boolean {
  return v.prerelease.length > 0
}

/** -1, 0 or 1 as a has lower, equal or higher precedence than b. */
export function compareVersions(a: Version | string, b: Version | string): -1 | 0 | 1 {
  return compare(a, b)
}

/** A number as a string that sorts by value: its digit count (one character), then the digits. */
const numberKey = (n: number) => {
  const digits = String(n)
  return String.fromCharCode(0x40 + digits.length) + digits
}

/**
 * A string whose binary order is semver's precedence order: numeric parts by value; a
 * pre-release before its release ('-' < '~'); pre-release identifiers one by one, numeric ones
 * (by value) before alphanumeric ones (by ASCII), a shorter list before a longer one that it
 * begins. Numbers have at most 16 digits (below 2^53), so one character holds a length.
 */
export function versionKey(v: Version): string {
  const core = numberKey(v.major) + numberKey(v.minor) + numberKey(v.patch)
  if (v.prerelease.length === 0) return core + '~'
  // each identifier ends with '!', below every character an identifier may hold, so that an
  // identifier that another one begins (alpha, alpha-1) sorts first, and so does a shorter list
  return core + '-' + v.prerelease.map((id) => (typeof id === 'number' ? '0' + numberKey(id) : '1' + id) + '!').join('')
}

/** versionKey of a release's version string, or undefined if it is not one (parseVersion). */
export function keyOf(v: string): string | undefined {
  const parsed = parseVersion(v)
  return parsed && versionKey(parsed)
}
