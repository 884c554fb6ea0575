// How book text is prepared for the full-text index and for sorting and filtering. The same
// functions prepare what is indexed and what is searched for, so the two always agree.

/**
 * Characters of scripts written without spaces between words (Han, kana, Hangul, and the kana
 * marks that belong to them). FTS5's unicode61 tokenizer would make one token of a whole run of
 * them ("吾輩は猫である"), so nothing but the whole run could be found; each is indexed as a
 * token of its own instead, and a query word in these scripts becomes a phrase of them, which
 * finds it anywhere inside a run. See DEVELOPERS.md, "Library index", for the choice.
 */
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3005\u30fc]/gu

/**
 * Control characters separate words. NUL in particular must not reach FTS5: its query parser
 * reads a C string, and a NUL inside a quoted term ended it there ("unterminated string").
 */
const CONTROL = /[\u0000-\u001f\u007f]/g

/** Ё/ё are written as Е/е in most Russian text: folded so that "Фёдор" and "Федор" match. */
const YO = /[Ёё]/g

/**
 * Accents on Latin letters (after NFKD, the combining marks that follow one): what the tokenizer's
 * remove_diacritics takes off, and no more, so that a folded key matches where the full-text
 * index does (й stays й; the kana voicing marks are not in this block anyway).
 */
const LATIN_ACCENTS = /(\p{Script=Latin})[\u0300-\u036f]+/gu

/**
 * Text as the full-text index takes it: compatibility forms unified (full-width Latin, ligatures,
 * composed and decomposed accents), ё as е, and a space on both sides of every CJK character.
 * The tokenizer (unicode61, remove_diacritics 2) then folds case and Latin accents.
 */
export function ftsText(text: string): string {
  return text
    .normalize('NFKC')
    .replace(CONTROL, ' ')
    .replace(YO, (c) => (c === 'ё' ? 'е' : 'Е'))
    .replace(CJK, ' $& ')
}

/**
 * A key for sorting and for matching a tag, shelf or author given as a filter: compatibility
 * forms unified, accents taken off Latin letters, ё as е, lower case, spaces collapsed. Sorting
 * compares these keys byte for byte.
 */
export function foldKey(text: string): string {
  return text
    .normalize('NFKD')
    .replace(LATIN_ACCENTS, '$1')
    .normalize('NFC')
    .replace(YO, (c) => (c === 'ё' ? 'е' : 'Е'))
    .toLowerCase()
    .replace(CONTROL, ' ')
    .replace(/\s+/gu, ' ')
    .trim()
}

/** Whether the tokenizer would find a word in `text` (unicode61: letters, numbers, private use). */
export function hasWordCharacters(text: string): boolean {
  return /[\p{L}\p{N}\p{Co}]/u.test(text)
}
