// searchBooks through @atproto/api: words, prefixes, phrases and accents in Latin, Cyrillic and
// CJK scripts; query text that looks like FTS5 syntax; filters and sort orders; a change or a
// deletion visible in the answer to the very next request (one commit, one transaction);
// account status; and the errors the method answers.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { AtpAgent } from '@atproto/api'
import { startNetwork, type TestNetwork } from './_harness.ts'
import { addBook, BOOK, search, titles, withLibraryLexicons, type Book } from './_library.ts'
import { expectXrpcError, rawXrpc } from './_util.ts'

let net: TestNetwork
let alice: { agent: AtpAgent; did: string; handle: string }
let bob: { agent: AtpAgent; did: string }

const day = (n: number) => new Date(Date.UTC(2024, 0, 1) + n * 86_400_000).toISOString()

const LIBRARY: Book[] = [
  { title: 'Crime and Punishment', authors: ['Fyodor Dostoevskii'], tags: ['Classic', 'Russian'], rating: 5, readingStatus: 'finished', shelf: 'Study', createdAt: day(1) },
  { title: 'The Idiot', authors: ['Fiodor Dostoévskii'], tags: ['classic'], rating: 4, readingStatus: 'finished', shelf: 'study', createdAt: day(2) },
  { title: 'Notes from Underground', authors: ['Fyodor Dostoevskii'], notes: 'Reread it one winter, by the stove.', readingStatus: 'reading', createdAt: day(3) },
  { title: 'Punishment Park', authors: ['Peter Watkins'], tags: ['film'], rating: 2, readingStatus: 'abandoned', createdAt: day(4) },
  { title: 'Преступление и наказание', authors: ['Фёдор Достоевский'], tags: ['классика'], readingStatus: 'toRead', createdAt: day(5) },
  { title: 'Идиот', authors: ['Федор Достоевский'], readingStatus: 'toRead', createdAt: day(6) },
  { title: '吾輩は猫である', authors: ['夏目漱石'], shelf: 'Japan', rating: 3, createdAt: day(7) },
  { title: '東京物語', authors: ['野田高梧'], shelf: 'Japan', createdAt: day(8) },
  { title: '京都の猫', authors: ['小川洋子'], shelf: 'Japan', createdAt: day(9) },
  { title: 'Underground Railroad', subtitle: 'Crème brûlée for the road', authors: ['Colson Whitehead'], series: { name: 'Dostoevskii Readers', number: 1 }, createdAt: day(10) },
  { title: 'Wolf Hall', authors: ['Hilary Mantel'], series: { name: 'Thomas Cromwell', number: 1 }, rating: 5, tags: ['HISTORY'], createdAt: day(11) },
]

test.before(async () => {
  net = await startNetwork()
  const a = await net.createAccount('alice')
  alice = { agent: withLibraryLexicons(a.agent), did: a.did, handle: a.handle }
  const b = await net.createAccount('bob')
  bob = { agent: withLibraryLexicons(b.agent), did: b.did }
  for (const book of LIBRARY) await addBook(alice.agent, alice.did, book)
  // bob's books never show up in alice's library
  await addBook(bob.agent, bob.did, { title: 'Crime and Punishment (Bob’s copy)', authors: ['Fyodor Dostoevskii'] })
})

test.after(async () => {
  await net.close()
})

const find = (q: string, extra: Record<string, unknown> = {}) => titles(alice.agent, { repo: alice.did, q, sort: 'title', ...extra })

test('Latin: case and accents ignored, words in any field, prefixes and phrases', async () => {
  const dostoevskii = ['Crime and Punishment', 'Notes from Underground', 'The Idiot', 'Underground Railroad']
  for (const q of ['Dostoevskii', 'dostoevskii', 'Dostoévskii', 'DOSTOÉVSKII', 'dostoevsk*', 'Dosto*']) {
    assert.equal(await find(q), dostoevskii, q)
  }
  assert.equal(await find('dostoev'), [], 'without * a word is whole')
  assert.equal(await find('punishment'), ['Crime and Punishment', 'Punishment Park'])
  assert.equal(await find('"crime and punishment"'), ['Crime and Punishment'])
  assert.equal(await find('"punishment crime"'), [], 'a phrase keeps its order')
  assert.equal(await find('"crime and pun"*'), ['Crime and Punishment'], 'a phrase with a prefix at its end')
  assert.equal(await find('crime punishment'), ['Crime and Punishment'], 'every word must be found')
  assert.equal(await find('underground dostoevskii'), ['Notes from Underground', 'Underground Railroad'], 'words in different fields')
  assert.equal(await find('creme brulee'), ['Underground Railroad'], 'subtitle, accents folded')
  assert.equal(await find('winter stove'), ['Notes from Underground'], 'notes')
  assert.equal(await find('cromwell'), ['Wolf Hall'], 'series')
  assert.equal(await find('history'), ['Wolf Hall'], 'tags')
  assert.equal(await find('ＣＲＩＭＥ'), ['Crime and Punishment'], 'full-width letters')
  assert.equal(await find('Fyodor'), ['Crime and Punishment', 'Notes from Underground'])
})

test('Cyrillic: words, prefixes, phrases; ё and е are the same letter', async () => {
  assert.equal(await find('достоевский'), ['Идиот', 'Преступление и наказание'])
  assert.equal(await find('ДОСТОЕВСКИЙ'), ['Идиот', 'Преступление и наказание'])
  assert.equal(await find('Достоев*'), ['Идиот', 'Преступление и наказание'])
  assert.equal(await find('Фёдор'), ['Идиот', 'Преступление и наказание'])
  assert.equal(await find('федор'), ['Идиот', 'Преступление и наказание'])
  assert.equal(await find('наказание'), ['Преступление и наказание'])
  assert.equal(await find('"преступление и наказание"'), ['Преступление и наказание'])
  assert.equal(await find('"наказание и преступление"'), [])
  assert.equal(await find('классика'), ['Преступление и наказание'], 'a Cyrillic tag')
})

test('CJK: any run of characters inside a title or name, in its order', async () => {
  assert.equal(await find('猫'), ['京都の猫', '吾輩は猫である'])
  assert.equal(await find('東京'), ['東京物語'])
  assert.equal(await find('京都'), ['京都の猫'], 'not 東京物語, whose 京 is followed by 物')
  assert.equal(await find('猫である'), ['吾輩は猫である'])
  assert.equal(await find('である猫'), [])
  assert.equal(await find('漱石'), ['吾輩は猫である'], 'an author')
  assert.equal(await find('夏目漱石 猫'), ['吾輩は猫である'])
  assert.equal(await find('"物語"'), ['東京物語'])
  assert.equal(await find('物*'), ['東京物語'], 'a prefix of one CJK character is the character')
})

test('query text is never FTS5 syntax: operators, columns and quotes are words or nothing', async () => {
  const cases: [string, string[]][] = [
    ['crime OR idiot', []], // OR is a word to look for, not an operator
    ['crime AND', ['Crime and Punishment']],
    ['title:crime', []], // "title" and "crime" as words
    ['{title}: crime', []],
    ['NEAR(crime punishment)', []],
    ['crime -punishment', ['Crime and Punishment']],
    ['^crime', ['Crime and Punishment']],
    ['"unbalanced quote', []],
    ['crime"punishment', ['Crime and Punishment']],
    ['"crime" "punishment"', ['Crime and Punishment']],
    ['(((', []],
    ['*', []],
    ['"*"', []],
    ['\'; DROP TABLE library_book; --', []],
    ['"" AND ""', ['Crime and Punishment']], // empty phrases are dropped; AND is a word
    ['"crime\u0000and"', ['Crime and Punishment']], // NUL ended FTS5's reading of a quoted term
  ]
  for (const [q, expected] of cases) {
    const res = await rawXrpc(net.url, 'app.carrel.library.searchBooks', { params: { repo: alice.did, q, sort: 'title' } })
    assert.is(res.status, 200, `${q}: ${JSON.stringify(res.body)}`)
    assert.equal(
      res.body.books.map((b: { value: { title: string } }) => b.value.title),
      expected,
      q,
    )
  }
  assert.ok((await find('dostoevskii')).length > 0, 'the index is still there')
})

test('filters: tag, shelf and author ignore case and accents; status is exact; they combine', async () => {
  const all = (params: Record<string, unknown>) => titles(alice.agent, { repo: alice.did, sort: 'title', ...params })
  assert.equal(await all({ tag: 'CLASSIC' }), ['Crime and Punishment', 'The Idiot'])
  assert.equal(await all({ tag: 'history' }), ['Wolf Hall'])
  assert.equal(await all({ shelf: 'STUDY' }), ['Crime and Punishment', 'The Idiot'])
  assert.equal(await all({ author: 'fyodor dostoevskii' }), ['Crime and Punishment', 'Notes from Underground'])
  assert.equal(await all({ author: 'Fiodor Dostoevskii' }), ['The Idiot'])
  assert.equal(await all({ author: 'Dostoevskii' }), [], 'an author filter is a whole name')
  assert.equal(await all({ status: 'finished' }), ['Crime and Punishment', 'The Idiot'])
  assert.equal(await all({ status: 'Finished' }), [])
  assert.equal(await all({ status: 'toRead', q: 'достоевский' }), ['Идиот', 'Преступление и наказание'])
  assert.equal(await all({ tag: 'classic', q: 'idiot' }), ['The Idiot'])
  assert.equal(await all({ shelf: 'japan', q: '猫' }), ['京都の猫', '吾輩は猫である'])
  assert.equal(await all({ shelf: 'japan', tag: 'classic' }), [])
  assert.equal(await all({ tag: 'no such tag' }), [])
  assert.equal(await all({ repo: bob.did, q: 'crime' }), ['Crime and Punishment (Bob’s copy)'])
})

test('sort orders: added, title, author, rating, relevance', async () => {
  const order = (params: Record<string, unknown>) => titles(alice.agent, { repo: alice.did, limit: 100, ...params })
  assert.equal(await order({}), [...LIBRARY].reverse().map((b) => b.title), 'default without q: newest first')
  assert.equal((await order({ sort: 'title' })).slice(0, 4), ['Crime and Punishment', 'Notes from Underground', 'Punishment Park', 'The Idiot'])
  // by the first author (Colson, Fiodor, Fyodor...), then title; books without authors last
  const anonymous = await addBook(alice.agent, alice.did, { title: 'Beowulf', createdAt: day(0) })
  const byAuthor = await order({ sort: 'author' })
  assert.equal(byAuthor.slice(0, 4), ['Underground Railroad', 'The Idiot', 'Crime and Punishment', 'Notes from Underground'])
  assert.is(byAuthor.at(-1), 'Beowulf')
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: BOOK, rkey: anonymous.rkey })
  // best first, equal ratings newest first, unrated last (newest first)
  assert.equal((await order({ sort: 'rating' })).slice(0, 6), ['Wolf Hall', 'Crime and Punishment', 'The Idiot', '吾輩は猫である', 'Punishment Park', 'Underground Railroad'])
  // relevance: title matches, then author or series matches, then the rest; newest first in each
  assert.equal(await order({ q: 'underground' }), ['Underground Railroad', 'Notes from Underground'])
  assert.equal(await order({ q: 'dostoevskii' }), ['Underground Railroad', 'Notes from Underground', 'The Idiot', 'Crime and Punishment'])
  assert.equal(await order({ q: 'dostoevskii underground' }), ['Underground Railroad', 'Notes from Underground'])
  assert.equal(await order({ q: 'punishment' }), ['Punishment Park', 'Crime and Punishment'])
  assert.equal(await order({ q: 'winter' }), ['Notes from Underground'], 'a notes match')
  assert.equal(await order({ q: 'dostoevskii', sort: 'added' }), ['Underground Railroad', 'Notes from Underground', 'The Idiot', 'Crime and Punishment'])
})

test('an update or a deletion shows in the very next answer; one commit changes all its books at once', async () => {
  const { rkey } = await addBook(alice.agent, alice.did, { title: 'Moby Dick', tags: ['sea'], notes: 'harpoon', readingStatus: 'toRead' })
  assert.equal(await find('moby'), ['Moby Dick'])
  assert.equal(await find('harpoon'), ['Moby Dick'])
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: BOOK,
    rkey,
    record: { title: 'Moby-Dick; or, The Whale', tags: ['ocean'], readingStatus: 'finished', createdAt: new Date().toISOString() },
  })
  assert.equal(await find('whale'), ['Moby-Dick; or, The Whale'])
  assert.equal(await find('moby dick'), ['Moby-Dick; or, The Whale'])
  assert.equal(await find('harpoon'), [], 'the old words are gone from the full-text index')
  assert.equal(await find('sea'), [], 'the old tag too')
  assert.equal(await titles(alice.agent, { repo: alice.did, tag: 'sea' }), [], 'the old tag is gone')
  assert.equal(await titles(alice.agent, { repo: alice.did, tag: 'ocean' }), ['Moby-Dick; or, The Whale'])
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: BOOK, rkey })
  assert.equal(await find('whale'), [])
  assert.equal(await titles(alice.agent, { repo: alice.did, tag: 'ocean' }), [])

  // one applyWrites: a delete, an update and a create, seen together
  const a = await addBook(alice.agent, alice.did, { title: 'Batch Alpha' })
  const b = await addBook(alice.agent, alice.did, { title: 'Batch Beta' })
  await alice.agent.com.atproto.repo.applyWrites({
    repo: alice.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#delete', collection: BOOK, rkey: a.rkey },
      { $type: 'com.atproto.repo.applyWrites#update', collection: BOOK, rkey: b.rkey, value: { title: 'Batch Gamma', createdAt: new Date().toISOString() } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: BOOK, value: { title: 'Batch Delta', createdAt: new Date().toISOString() } },
    ],
  })
  assert.equal(await find('batch'), ['Batch Delta', 'Batch Gamma'])
  await alice.agent.com.atproto.repo.applyWrites({
    repo: alice.did,
    writes: (await search(alice.agent, { repo: alice.did, q: 'batch' })).books.map((book) => ({
      $type: 'com.atproto.repo.applyWrites#delete' as const,
      collection: BOOK,
      rkey: book.uri.split('/').pop()!,
    })),
  })
  assert.equal(await find('batch'), [])
})

test('public, and following the account status: nothing for deactivated or taken-down accounts', async () => {
  const anonymous = withLibraryLexicons(net.agent())
  assert.equal(await titles(anonymous, { repo: alice.handle, q: 'idiot', sort: 'title' }), ['The Idiot'], 'by handle, without a session')
  const accounts = net.pds.ctx.accounts
  try {
    accounts.setDeactivated(alice.did, new Date().toISOString())
    for (const nsid of ['app.carrel.library.searchBooks', 'app.carrel.library.getStats']) {
      await expectXrpcError(() => anonymous.call(nsid, { repo: alice.did }), 400, 'RepoDeactivated')
      await expectXrpcError(() => alice.agent.call(nsid, { repo: alice.did }), 400, 'RepoDeactivated')
    }
    accounts.setDeactivated(alice.did, null)
    accounts.setTakedown(alice.did, 'mod-1')
    for (const nsid of ['app.carrel.library.searchBooks', 'app.carrel.library.getStats']) {
      await expectXrpcError(() => anonymous.call(nsid, { repo: alice.did }), 400, 'RepoTakendown')
    }
  } finally {
    accounts.setTakedown(alice.did, null)
    accounts.setDeactivated(alice.did, null)
  }
  assert.equal(await titles(anonymous, { repo: alice.did, q: 'idiot', sort: 'title' }), ['The Idiot'], 'served again, nothing lost')
  for (const nsid of ['app.carrel.library.searchBooks', 'app.carrel.library.getStats']) {
    await expectXrpcError(() => anonymous.call(nsid, { repo: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
    await expectXrpcError(() => anonymous.call(nsid, { repo: 'nobody.test' }), 400, 'RepoNotFound')
  }
})

test('errors: malformed cursors, too many words, bad parameters', async () => {
  const first = await search(alice.agent, { repo: alice.did, sort: 'title', limit: 2 })
  assert.ok(first.cursor)
  const bad = async (params: Record<string, string>, pattern: RegExp) => {
    const res = await rawXrpc(net.url, 'app.carrel.library.searchBooks', { params: { repo: alice.did, ...params } })
    assert.is(res.status, 400, JSON.stringify(params))
    assert.is(res.body.error, 'InvalidRequest')
    assert.match(res.body.message, pattern)
  }
  await bad({ cursor: 'nonsense' }, /Malformed cursor/)
  await bad({ sort: 'added', cursor: first.cursor! }, /Malformed cursor/) // a title cursor for another order
  await bad({ sort: 'title', cursor: 'title:' + Buffer.from('["a"]').toString('base64url') }, /Malformed cursor/)
  await bad({ sort: 'title', cursor: 'title:' + Buffer.from('[1, 2]').toString('base64url') }, /Malformed cursor/)
  await bad({ sort: 'title', cursor: 'title:%%%' }, /Malformed cursor/)
  await bad({ q: Array.from({ length: 17 }, (_, i) => `word${i}`).join(' ') }, /at most 16/)
  await bad({ sort: 'price' }, /sort/)
  await bad({ limit: '0' }, /limit/)
  await bad({ limit: '101' }, /limit/)
  await bad({ q: 'x'.repeat(1001) }, /q/)
  const none = await rawXrpc(net.url, 'app.carrel.library.searchBooks', { params: {} })
  assert.is(none.status, 400)
  // the library is unchanged
  assert.equal(await find('idiot'), ['The Idiot'])
})

test.run()
