import { FTS_COLUMNS, type FtsColumn } from './book-entry.js'
import { ftsText, hasWordCharacters } from './text.js'

// A search box's text, parsed into terms that are quoted into FTS5 query syntax. User text is
// never pasted into a MATCH expression: every term becomes an FTS5 string ("..." with inner
// quotes doubled), which FTS5 reads as a phrase of the tokens the table's tokenizer finds in it.

/** One thing to find: a word or a phrase (several tokens in a row), the last token possibly a prefix. */
export type QueryTerm = { text: string; prefix: boolean }

export const MAX_QUERY_TERMS = 16

/**
 * A prefix shorter than this many characters is searched as a whole word: "a*" would stand for
 * every word in the index beginning with a, which costs a scan of a good part of the index and
 * finds nothing useful in a library.
 */
const MIN_PREFIX_CHARS = 2

/**
 * Terms of `q`: words separated by white space, "double-quoted phrases", and a trailing `*` on a
 * word or a closing quote for a prefix. Terms without a letter or digit are dropped (the
 * tokenizer would find nothing in them). An unclosed quote runs to the end.
 */
export function parseQuery(q: string): QueryTerm[] {
  const terms: QueryTerm[] = []
  let i = 0
  while (i < q.length) {
    const c = q[i]!
    if (/\s/u.test(c)) {
      i++
      continue
    }
    let text: string
    if (c === '"') {
      const end = q.indexOf('"', i + 1)
      text = q.slice(i + 1, end === -1 ? q.length : end)
      i = end === -1 ? q.length : end + 1
    } else {
      const start = i
      while (i < q.length && q[i] !== '"' && !/\s/u.test(q[i]!)) i++
      text = q.slice(start, i)
    }
    let prefix = false
    while (text.endsWith('*')) {
      text = text.slice(0, -1)
      prefix = true
    }
    while (q[i] === '*') {
      i++
      prefix = true
    }
    if (!hasWordCharacters(text)) continue
    const lastWord = /[\p{L}\p{N}\p{Co}]+$/u.exec(text.normalize('NFKC'))?.[0] ?? ''
    terms.push({ text, prefix: prefix && [...lastWord].length >= MIN_PREFIX_CHARS })
  }
  return terms
}

function ftsString(term: QueryTerm): string {
  return `"${ftsText(term.text).replaceAll('"', '""')}"${term.prefix ? '*' : ''}`
}

/** The FTS5 expression that matches books holding every term (anywhere in the indexed columns). */
export function matchExpression(terms: readonly QueryTerm[]): string {
  return terms.map(ftsString).join(' AND ')
}

/** The FTS5 expression that matches books holding at least one of the terms in one of `columns`. */
export function columnsExpression(columns: readonly FtsColumn[], terms: readonly QueryTerm[]): string {
  for (const column of columns) if (!FTS_COLUMNS.includes(column)) throw new Error(`not a full-text column: ${column}`)
  return `{${columns.join(' ')}} : (${terms.map(ftsString).join(' OR ')})`
}
