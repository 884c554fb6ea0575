// Invite codes on a server that requires them, through @atproto/api: createInviteCode(s) by the
// admin, codes consumed and exhausted by createAccount, getInviteCodes' two orders paged with
// cursors (every code once), disableInviteCodes / disable- and enableAccountInvites,
// getAccountInviteCodes (the account's own codes; includeUsed; createAvailable making the codes an
// account earned, PDS_INVITE_INTERVAL / PDS_INVITE_EPOCH), getAccountInfo's invites and invitedBy,
// and codes of a taken-down account. Every refusal changes nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AtpAgent } from '@atproto/api'
import { codesToEarn } from '../src/auth/account-invites.ts'
import type { InviteCodeView } from '../src/auth/invite-store.ts'
import { ADMIN_AUTH, adminAgent } from './_admin.ts'
import { startNetwork, type TestAccount, type TestNetwork } from './_harness.ts'
import { expectError, expectXrpcError, rawXrpc } from './_util.ts'

const DAY = 86_400_000
const CODE_RE = /^localhost-[a-z2-7]{5}-[a-z2-7]{5}$/

let net: TestNetwork
let admin: AtpAgent
let counter = 0

const call = (nsid: string, opts: Parameters<typeof rawXrpc>[2] = {}) => rawXrpc(net.url, nsid, opts)
const sqlite = () => net.pds.ctx.db.sqlite

function inviteRows() {
  return {
    codes: sqlite().prepare('SELECT * FROM invite_code ORDER BY code').all(),
    uses: sqlite().prepare('SELECT * FROM invite_code_use ORDER BY code, used_by').all(),
    accounts: sqlite().prepare('SELECT did, invites_disabled FROM account ORDER BY did').all(),
  }
}

async function adminCode(useCount = 1, forAccount?: string): Promise<string> {
  return (await admin.com.atproto.server.createInviteCode({ useCount, ...(forAccount ? { forAccount } : {}) })).data.code
}

async function createWith(inviteCode: string | undefined): Promise<TestAccount> {
  const name = `invited${++counter}`
  const agent = new AtpAgent({ service: net.url })
  const handle = `${name}.test`
  const password = 'an invited password'
  const res = await agent.createAccount({ handle, email: `${name}@mail.test`, password, ...(inviteCode ? { inviteCode } : {}) })
  return { agent, did: res.data.did, handle, password }
}

async function refusedWith(inviteCode: string | undefined): Promise<void> {
  const before = inviteRows()
  const name = `refused${++counter}`
  const res = await call('com.atproto.server.createAccount', {
    body: { handle: `${name}.test`, email: `${name}@mail.test`, password: 'a refused password', ...(inviteCode ? { inviteCode } : {}) },
  })
  expectError(res, 400, 'InvalidInviteCode')
  assert.equal(inviteRows(), before)
}

/** The account's creation moved back in time (the store caches rows: it is told). */
function agedBy(did: string, ms: number): void {
  sqlite().prepare('UPDATE account SET created_at = ? WHERE did = ?').run(new Date(Date.now() - ms).toISOString(), did)
  net.pds.ctx.accounts.invalidate(did)
}

async function ownCodes(account: TestAccount, params: { includeUsed?: boolean; createAvailable?: boolean } = {}) {
  return (await account.agent.com.atproto.server.getAccountInviteCodes(params)).data.codes
}

test.before(async () => {
  net = await startNetwork({ PDS_INVITE_REQUIRED: 'true', PDS_INVITE_INTERVAL: String(DAY), PDS_INVITE_EPOCH: '0' })
  admin = adminAgent(net.url)
})

test.after(async () => {
  await net?.close()
})

test('createInviteCodes: codeCount codes for each account (or "admin"), made by the admin; refusals create nothing', async () => {
  const forAccounts = ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb']
  const res = await admin.com.atproto.server.createInviteCodes({ codeCount: 3, useCount: 2, forAccounts })
  assert.equal(
    res.data.codes.map((c) => [c.account, c.codes.length]),
    [
      [forAccounts[0], 3],
      [forAccounts[1], 3],
    ],
  )
  const all = res.data.codes.flatMap((c) => c.codes)
  for (const code of all) assert.match(code, CODE_RE)
  assert.is(new Set(all).size, 6)
  const rows = sqlite().prepare(`SELECT * FROM invite_code WHERE code IN (${all.map(() => '?').join(',')})`).all(...all) as any[]
  assert.is(rows.length, 6)
  for (const row of rows) assert.equal([row.available_uses, row.created_by, row.disabled], [2, 'admin', 0])
  const plain = await admin.com.atproto.server.createInviteCodes({ codeCount: 1, useCount: 1 })
  assert.equal(plain.data.codes.map((c) => [c.account, c.codes.length]), [['admin', 1]])

  const before = inviteRows()
  const attempt = async (body: Record<string, unknown>, message: RegExp) => {
    expectError(await call('com.atproto.server.createInviteCodes', { authorization: ADMIN_AUTH, body }), 400, 'InvalidRequest', message)
  }
  await attempt({ codeCount: 1, useCount: 0 }, /useCount/)
  await attempt({ codeCount: 0, useCount: 1 }, /codeCount/)
  await attempt({ codeCount: 1001, useCount: 1 }, /codeCount/)
  await attempt({ codeCount: 1, useCount: 1, forAccounts: Array.from({ length: 101 }, (_, i) => `did:plc:${String(i).padStart(24, 'a')}`) }, /forAccounts/)
  await attempt({ useCount: 1, forAccounts: ['not a did'] }, /did/i)
  expectError(await call('com.atproto.server.createInviteCode', { authorization: ADMIN_AUTH, body: { useCount: 0 } }), 400, 'InvalidRequest')
  assert.equal(inviteRows(), before)
})

test('invites consumed and exhausted: two uses, then InvalidInviteCode; the uses and invitedBy are shown', async () => {
  await refusedWith(undefined)
  await refusedWith('localhost-aaaaa-bbbbb')
  const code = await adminCode(2)
  const first = await createWith(code)
  const second = await createWith(code)
  await refusedWith(code)
  const listed = (await admin.com.atproto.admin.getInviteCodes({ sort: 'recent' })).data.codes.find((c) => c.code === code)!
  assert.equal(
    { ...listed, uses: listed.uses.map((u) => u.usedBy).sort() },
    { code, available: 2, disabled: false, forAccount: 'admin', createdBy: 'admin', createdAt: listed.createdAt, uses: [first.did, second.did].sort() },
  )
  for (const u of listed.uses) assert.ok(!Number.isNaN(Date.parse(u.usedAt)))
  const info = await admin.com.atproto.admin.getAccountInfo({ did: first.did })
  assert.is(info.data.invitedBy?.code, code)
  assert.is(info.data.invitedBy?.uses.length, 2)

  // a code given to an account is listed with it
  const given = await adminCode(1, first.did)
  const firstInfo = await admin.com.atproto.admin.getAccountInfo({ did: first.did })
  assert.equal(firstInfo.data.invites?.map((c) => [c.code, c.forAccount, c.createdBy]), [[given, first.did, 'admin']])
  const infos = await admin.com.atproto.admin.getAccountInfos({ dids: [first.did, second.did] })
  assert.equal(
    infos.data.infos.map((i) => [i.did, i.invites?.length, i.invitedBy?.code]),
    [
      [first.did, 1, code],
      [second.did, 0, code],
    ],
  )
})

test('getInviteCodes: both orders paged with cursors give every code once, in order; bad cursors and sorts are refused', async () => {
  // some codes used more than others
  const used = await adminCode(3)
  await createWith(used)
  await createWith(used)
  const once = await adminCode(3)
  await createWith(once)
  await admin.com.atproto.server.createInviteCodes({ codeCount: 4, useCount: 1 })

  const expected = (sqlite().prepare(
    `SELECT c.code, c.created_at, (SELECT count(*) FROM invite_code_use u WHERE u.code = c.code) AS uses FROM invite_code c`,
  ).all() as { code: string; created_at: string; uses: number }[])
  const desc = (a: string | number, b: string | number) => (a < b ? 1 : a > b ? -1 : 0)
  const orders = {
    recent: [...expected].sort((a, b) => desc(a.created_at, b.created_at) || desc(a.code, b.code)).map((r) => r.code),
    usage: [...expected].sort((a, b) => desc(a.uses, b.uses) || desc(a.code, b.code)).map((r) => r.code),
  }
  assert.ok(expected.length > 12, `${expected.length} codes`)
  for (const sort of ['recent', 'usage'] as const) {
    for (const limit of [1, 2, 5]) {
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await admin.com.atproto.admin.getInviteCodes({ sort, limit, cursor })
        assert.ok(page.data.codes.length <= limit)
        seen.push(...page.data.codes.map((c) => c.code))
        cursor = page.data.cursor
        assert.ok(++pages <= expected.length + 1, 'pages end')
      } while (cursor)
      assert.equal(seen, orders[sort], `${sort} by ${limit}`)
    }
  }
  const top = (await admin.com.atproto.admin.getInviteCodes({ sort: 'usage', limit: 1 })).data.codes[0]!
  assert.equal([top.code, top.uses.length], [orders.usage[0], Math.max(...expected.map((r) => r.uses))])
  // the default is recent, 100 at most
  assert.equal((await admin.com.atproto.admin.getInviteCodes({})).data.codes.map((c) => c.code), orders.recent.slice(0, 100))

  for (const cursor of ['garbage', '123', '::code', 'abc::code', '1::2::3', '99999999999999999999::x']) {
    for (const sort of ['recent', 'usage']) {
      expectError(
        await call('com.atproto.admin.getInviteCodes', { authorization: ADMIN_AUTH, params: { sort, cursor } }),
        400,
        'InvalidRequest',
        /Malformed cursor/,
      )
    }
  }
  expectError(await call('com.atproto.admin.getInviteCodes', { authorization: ADMIN_AUTH, params: { sort: 'oldest' } }), 400, 'InvalidRequest', /sort/)
  expectError(await call('com.atproto.admin.getInviteCodes', { authorization: ADMIN_AUTH, params: { limit: '501' } }), 400, 'InvalidRequest')
})

test('disableInviteCodes: by code and by account, then InvalidInviteCode; "admin" is refused and nothing changes', async () => {
  const byCode = await adminCode(5)
  const owner = await createWith(await adminCode(1))
  const ofOwner = [await adminCode(5, owner.did), await adminCode(5, owner.did)]
  const untouched = await adminCode(5)
  await admin.com.atproto.admin.disableInviteCodes({ codes: [byCode] })
  await admin.com.atproto.admin.disableInviteCodes({ accounts: [owner.did] })
  await refusedWith(byCode)
  for (const code of ofOwner) await refusedWith(code)
  const listed = (await admin.com.atproto.admin.getInviteCodes({ limit: 500 })).data.codes
  for (const code of [byCode, ...ofOwner]) assert.is(listed.find((c) => c.code === code)!.disabled, true, code)
  assert.is(listed.find((c) => c.code === untouched)!.disabled, false)

  const before = inviteRows()
  expectError(
    await call('com.atproto.admin.disableInviteCodes', { authorization: ADMIN_AUTH, body: { accounts: ['admin'], codes: [untouched] } }),
    400,
    'InvalidRequest',
    /admin/,
  )
  assert.equal(inviteRows(), before)
  await createWith(untouched)
})

test('getAccountInviteCodes: the codes an account earned are made (interval, at most five open), used ones shown or not', async () => {
  const account = await createWith(await adminCode(1))
  // nothing earned yet; codes the admin gave it are listed and not counted
  assert.equal(await ownCodes(account), [])
  const gift = await adminCode(1, account.did)
  assert.equal((await ownCodes(account)).map((c) => c.code), [gift])

  agedBy(account.did, 3.5 * DAY)
  const earned = (await ownCodes(account)).filter((c) => c.createdBy !== 'admin')
  assert.is(earned.length, 3)
  for (const c of earned) assert.equal([c.forAccount, c.createdBy, c.available, c.disabled, c.uses], [account.did, account.did, 1, false, []])
  // asking again makes none; createAvailable false makes none even when more are due
  assert.is((await ownCodes(account)).length, 4)
  agedBy(account.did, 4.5 * DAY)
  assert.is((await ownCodes(account, { createAvailable: false })).length, 4)
  assert.is((await ownCodes(account)).length, 5)

  // a used code: shown by default (includeUsed), hidden without; it still counts as made
  const used = earned[0]!.code
  const invitee = await createWith(used)
  const all = await ownCodes(account)
  assert.equal(all.find((c) => c.code === used)!.uses.map((u) => u.usedBy), [invitee.did])
  assert.not.ok((await ownCodes(account, { includeUsed: false })).some((c) => c.code === used))

  // never more than five open earned codes, however long the account has lived
  agedBy(account.did, 400 * DAY)
  const open = (await ownCodes(account, { includeUsed: false })).filter((c) => c.createdBy !== 'admin')
  assert.is(open.length, 5)
})

test('disableAccountInvites: earned codes are made disabled (and not listed); enableAccountInvites lets it earn again', async () => {
  const account = await createWith(await adminCode(1))
  await admin.com.atproto.admin.disableAccountInvites({ account: account.did, note: 'spam' })
  assert.is((await admin.com.atproto.admin.getAccountInfo({ did: account.did })).data.invitesDisabled, true)
  agedBy(account.did, 2.5 * DAY)
  assert.equal(await ownCodes(account), [])
  const made = sqlite().prepare('SELECT code, disabled FROM invite_code WHERE for_account = ?').all(account.did) as { code: string; disabled: number }[]
  assert.equal(made.map((r) => r.disabled), [1, 1])
  await refusedWith(made[0]!.code)

  await admin.com.atproto.admin.enableAccountInvites({ account: account.did })
  assert.is((await admin.com.atproto.admin.getAccountInfo({ did: account.did })).data.invitesDisabled, false)
  // the disabled codes were made for those days; the next day's is usable
  assert.equal(await ownCodes(account), [])
  agedBy(account.did, 3.5 * DAY)
  const codes = await ownCodes(account)
  assert.is(codes.length, 1)
  await createWith(codes[0]!.code)

  const before = inviteRows()
  for (const nsid of ['com.atproto.admin.disableAccountInvites', 'com.atproto.admin.enableAccountInvites']) {
    expectError(await call(nsid, { authorization: ADMIN_AUTH, body: { account: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' } }), 400, 'AccountNotFound')
  }
  assert.equal(inviteRows(), before)
})

test('a taken-down account: its codes cannot be used, and it cannot list them (AccountTakedown)', async () => {
  const account = await createWith(await adminCode(1))
  const code = await adminCode(3, account.did)
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: 'com.atproto.admin.defs#repoRef', did: account.did }, takedown: { applied: true } })
  await refusedWith(code)
  expectError(await call('com.atproto.server.getAccountInviteCodes', { token: account.agent.session!.accessJwt }), 401, 'AccountTakedown')
  await admin.com.atproto.admin.updateSubjectStatus({ subject: { $type: 'com.atproto.admin.defs#repoRef', did: account.did }, takedown: { applied: false } })
  await createWith(code)
  // an app password's session may not list them (the account's own password only)
  await account.agent.login({ identifier: account.handle, password: account.password })
  const appPassword = (await account.agent.com.atproto.server.createAppPassword({ name: 'app' })).data.password
  const app = new AtpAgent({ service: net.url })
  await app.login({ identifier: account.handle, password: appPassword })
  await expectXrpcError(() => app.com.atproto.server.getAccountInviteCodes({}), 400, 'InvalidToken')
})

test('codesToEarn: intervals before the epoch do not count; codes made since the epoch do', () => {
  const now = Date.UTC(2026, 0, 10)
  const code = (createdAt: number, createdBy = 'did:plc:x', used = false): InviteCodeView => ({
    code: 'c',
    available: 1,
    disabled: false,
    forAccount: 'did:plc:x',
    createdBy,
    createdAt: new Date(createdAt).toISOString(),
    uses: used ? [{ usedBy: 'did:plc:y', usedAt: new Date(now).toISOString() }] : [],
  })
  const earning = (epochMs: number) => ({ intervalMs: DAY, epochMs })
  // created 3.5 days ago, epoch 1.5 days ago: 3 intervals lived, 2 of them ended before the epoch
  assert.is(codesToEarn([], now - 3.5 * DAY, now, earning(now - 1.5 * DAY)), 1)
  // created after the epoch: every interval counts
  assert.is(codesToEarn([], now - 3.5 * DAY, now, earning(now - 10 * DAY)), 3)
  // 4 intervals since the epoch (30 lived, 26 before it); the code made since the epoch is
  // subtracted (used or not), the older one and the admin's are not
  const made = [code(now - DAY, 'did:plc:x', true), code(now - 20 * DAY), code(now - DAY, 'admin')]
  assert.is(codesToEarn(made, now - 30 * DAY, now, earning(now - 3.5 * DAY)), 3)
  // five open earned codes at most
  assert.is(codesToEarn([code(now - 50 * DAY), code(now - 50 * DAY)], now - 100 * DAY, now, earning(0)), 3)
  assert.is(codesToEarn([], now, now, earning(0)), 0)
})

test.run()
