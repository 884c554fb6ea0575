// The pieces of the library index that are plain functions: ISBN check digits and publication
// dates, the text folding shared by indexing and searching, and the query parser, which must turn
// any text at all into an FTS5 expression that FTS5 accepts (thousands of random queries made of
// FTS5's own syntax characters and keywords, run against a table made like the real one).
import Database from 'better-sqlite3'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isbn10Problem, isbn13Problem, publishedDateProblem } from '../src/indexer/library/book-rules.ts'
import { columnsExpression, matchExpression, parseQuery } from '../src/indexer/library/query.ts'
import { foldKey, ftsText } from '../src/indexer/library/text.ts'
import { Rng, testSeed } from './_random-data.ts'

test('ISBN-10 and ISBN-13 check digits', () => {
  for (const ok of ['0306406152', '080442957X', '0198526636', '0000000000', '0471958697']) assert.is(isbn10Problem(ok), undefined, ok)
  for (const ok of ['9780306406157', '9783161484100', '9791090636071', '9780000000002']) assert.is(isbn13Problem(ok), undefined, ok)
  assert.match(isbn10Problem('0306406153')!, /check digit.*should end in 2/)
  assert.match(isbn10Problem('0804429579')!, /should end in X/)
  assert.match(isbn13Problem('9780306406158')!, /should end in 7/)
  for (const bad of ['030640615', '03064061522', '030640615x', 'X306406152', '0-306-4061', '０３０６４０６１５２']) {
    assert.match(isbn10Problem(bad)!, /must be nine digits/, bad)
  }
  for (const bad of ['9770306406157', '978030640615', '97803064061570', '978-030640615']) assert.match(isbn13Problem(bad)!, /must be thirteen digits/, bad)
  // every single-digit change of a valid ISBN is caught
  for (const valid of ['0306406152', '9780306406157']) {
    for (let i = 0; i < valid.length; i++) {
      for (const d of '0123456789') {
        if (d === valid[i] || (valid.length === 13 && i < 3)) continue
        const changed = valid.slice(0, i) + d + valid.slice(i + 1)
        const problem = valid.length === 10 ? isbn10Problem(changed) : isbn13Problem(changed)
        assert.ok(problem, `${changed} is refused`)
      }
    }
  }
})

test('publication dates: a year, a month or a day that exists', () => {
  for (const ok of ['1951', '1951-06', '1951-06-01', '2024-02-29', '2000-02-29', '0800']) assert.is(publishedDateProblem(ok), undefined, ok)
  for (const bad of ['51', '1951-13', '1951-00', '1951-06-31', '1900-02-29', '2023-02-29', '1951-6', '1951/06', 'c. 1951', '1951-06-01T00:00:00Z']) {
    assert.ok(publishedDateProblem(bad), bad)
  }
})

test('text folding: accents, case, ё, compatibility forms; CJK characters stand alone', () => {
  assert.is(foldKey('  Dostoévskii   Fyodor '), 'dostoevskii fyodor')
  assert.is(foldKey('Фёдор'), 'федор')
  assert.is(foldKey('ＣＡＦÉ'), 'cafe')
  assert.is(foldKey('ガ'), 'ガ', 'the voicing mark of kana is not an accent')
  assert.is(ftsText('吾輩は猫'), ' 吾  輩  は  猫 ')
  assert.is(ftsText('Ёлка ＴＯＫＹＯ'), 'Елка TOKYO')
})

test('query parsing: words, "phrases", prefixes*, nothing without letters or digits', () => {
  assert.equal(parseQuery('war  and "peace in"  tol*'), [
    { text: 'war', prefix: false },
    { text: 'and', prefix: false },
    { text: 'peace in', prefix: false },
    { text: 'tol', prefix: true },
  ])
  assert.equal(parseQuery('"war and pea"* "open'), [
    { text: 'war and pea', prefix: true },
    { text: 'open', prefix: false },
  ])
  assert.equal(parseQuery('- * ** "" "?!" ...'), [])
  assert.equal(parseQuery('a* 東*'), [
    { text: 'a', prefix: false },
    { text: '東', prefix: false },
  ], 'a prefix of one character is the word itself')
  assert.is(matchExpression(parseQuery('say "hi" x"y')), '"say" AND "hi" AND "x" AND "y"')
  assert.is(matchExpression([{ text: 'a"b', prefix: true }]), '"a""b"*', 'a quote inside a term is doubled')
  assert.is(columnsExpression(['title', 'authors'], parseQuery('猫 tol*')), '{title authors} : (" 猫 " OR "tol"*)')
})

test('any text becomes an expression FTS5 accepts and treats as words', () => {
  const db = new Database(':memory:')
  db.exec(`CREATE VIRTUAL TABLE f USING fts5(title, authors, series, subtitle, tags, notes, content = '', contentless_delete = 1,
           tokenize = 'unicode61 remove_diacritics 2')`)
  db.prepare('INSERT INTO f (rowid, title, authors) VALUES (1, ?, ?)').run(ftsText('OR AND NOT NEAR title'), ftsText('猫 Dostoévskii'))
  const match = db.prepare('SELECT rowid FROM f WHERE f MATCH ?').pluck()
  const pieces = ['"', '*', '(', ')', '{', '}', ':', '^', '-', '+', 'AND', 'OR', 'NOT', 'NEAR', 'NEAR(', 'title', 'title:', '{title}', ',', '\\', "'", ' ', ' ', '猫', 'é', 'x', '0', '\u0000', '\u200b', '🐱']
  const seed = testSeed()
  const rng = new Rng(seed)
  let nonEmpty = 0
  for (let i = 0; i < 5000; i++) {
    const q = Array.from({ length: 1 + rng.int(12) }, () => pieces[rng.int(pieces.length)]).join('')
    const terms = parseQuery(q)
    if (terms.length === 0) continue
    nonEmpty++
    for (const expression of [matchExpression(terms), columnsExpression(['title'], terms)]) {
      try {
        match.all(expression)
      } catch (err) {
        assert.unreachable(`TEST_SEED=${seed}: ${JSON.stringify(q)} -> ${expression}: ${(err as Error).message}`)
      }
    }
  }
  assert.ok(nonEmpty > 3000, `${nonEmpty} queries with terms`)
  // keywords are words: "OR" finds the book that has the word OR, and nothing else is an operator
  assert.equal(match.all(matchExpression(parseQuery('or and not near'))), [1])
  // one term with punctuation inside is the phrase of its words: "title dostoevskii" is not in the book, "near title" is
  assert.equal(match.all(matchExpression(parseQuery('title:dostoevskii'))), [])
  assert.equal(match.all(matchExpression(parseQuery('near:title'))), [1])
  assert.equal(match.all(matchExpression(parseQuery('NEAR (猫 dostoevskii)'))), [1], 'NEAR is a word')
  assert.equal(match.all(matchExpression(parseQuery('-猫'))), [1], 'not a negation')
})

test.run()
