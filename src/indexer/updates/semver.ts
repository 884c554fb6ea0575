// Semantic versions (semver.org 2.0.0), as releases and devices name them. Build metadata is
// refused: a release's version is part of its record key, which cannot hold '+'.

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$/

export type Version = { major: string; minor: string; patch: string; prerelease: string[] }

export function parseVersion(v: string): Version | undefined {
  const m = SEMVER.exec(v)
  if (!m) return undefined
  return { major: m[1]!, minor: m[2]!, patch: m[3]!, prerelease: m[4] === undefined ? [] : m[4].split('.') }
}

export function isPrerelease(v: Version): boolean {
  return v.prerelease.length > 0
}

/** A number as a string that sorts by value: its digit count (one character), then the digits. */
const numberKey = (digits: string) => String.fromCharCode(0x40 + digits.length) + digits

/**
 * A string whose binary order is semver's precedence order: numeric parts by value; a
 * pre-release before its release ('-' < '~'); pre-release identifiers one by one, numeric ones
 * (by value) before alphanumeric ones (by ASCII), a shorter list before a longer one that it
 * begins. Identifiers are at most 64 characters long, so one character holds a length.
 */
export function versionKey(v: Version): string {
  const core = numberKey(v.major) + numberKey(v.minor) + numberKey(v.patch)
  if (v.prerelease.length === 0) return core + '~'
  // each identifier ends with '!', below every character an identifier may hold, so that an
  // identifier that another one begins (alpha, alpha-1) sorts first, and so does a shorter list
  return core + '-' + v.prerelease.map((id) => (/^\d+$/.test(id) ? '0' + numberKey(id) : '1' + id) + '!').join('')
}

/** versionKey of a version string, or undefined if it is not a semantic version. */
export function keyOf(v: string): string | undefined {
  const parsed = parseVersion(v)
  return parsed && versionKey(parsed)
}
