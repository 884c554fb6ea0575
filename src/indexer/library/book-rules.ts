// What a book lexicon cannot say: ISBN check digits and real publication dates. Checked on every
// write to the collection (a commit hook's `check`), whatever `validate` says.

import { isObject } from '../record-index.js'

/** Why `s` is not an ISBN-10 (nine digits and a check digit 0-9 or X), or undefined. */
export function isbn10Problem(s: string): string | undefined {
  if (!/^\d{9}[\dX]$/.test(s)) return 'must be nine digits and a check digit (0-9 or X), without hyphens or spaces'
  let sum = 0
  for (let i = 0; i < 9; i++) sum += (10 - i) * Number(s[i])
  const check = (11 - (sum % 11)) % 11
  const expected = check === 10 ? 'X' : String(check)
  return s[9] === expected ? undefined : `has a wrong check digit: ${s} should end in ${expected}`
}

/** Why `s` is not an ISBN-13 (978 or 979, nine digits, a check digit), or undefined. */
export function isbn13Problem(s: string): string | undefined {
  if (!/^97[89]\d{10}$/.test(s)) return 'must be thirteen digits starting with 978 or 979, without hyphens or spaces'
  let sum = 0
  for (let i = 0; i < 12; i++) sum += (i % 2 === 0 ? 1 : 3) * Number(s[i])
  const expected = String((10 - (sum % 10)) % 10)
  return s[12] === expected ? undefined : `has a wrong check digit: ${s} should end in ${expected}`
}

/** Why `s` is not a year, year-month or date (1951, 1951-06, 1951-06-01), or undefined. */
export function publishedDateProblem(s: string): string | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(s)
  const problem = 'must be a year, year-month or date (1951, 1951-06, 1951-06-01)'
  if (!m) return problem
  const [, year, month, day] = m
  if (month !== undefined && (Number(month) < 1 || Number(month) > 12)) return problem
  if (day !== undefined && (Number(day) < 1 || Number(day) > daysInMonth(Number(year), Number(month)))) return problem
  return undefined
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}


/** The first field of a book record that breaks the rules above, with why; undefined if none. */
export function bookRuleViolation(record: Record<string, unknown>): { path: string; problem: string } | undefined {
  const ids = record.identifiers
  if (isObject(ids)) {
    const isbn10 = typeof ids.isbn10 === 'string' ? isbn10Problem(ids.isbn10) : undefined
    if (isbn10) return { path: 'identifiers/isbn10', problem: isbn10 }
    const isbn13 = typeof ids.isbn13 === 'string' ? isbn13Problem(ids.isbn13) : undefined
    if (isbn13) return { path: 'identifiers/isbn13', problem: isbn13 }
  }
  const date = typeof record.publishedDate === 'string' ? publishedDateProblem(record.publishedDate) : undefined
  if (date) return { path: 'publishedDate', problem: date }
  return undefined
}
