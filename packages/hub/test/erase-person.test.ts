import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestHub, type TestHub } from './helpers/test-hub.js'
import { runImport } from '../src/imports/run-import.js'
import { bearer, client, expectError, unique, type Call } from './helpers/requests.js'

let hub: TestHub
let call: Call
const password = 'correct horse battery'

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false } })
  call = client(hub)
})
afterAll(async () => hub?.close())

/** Every column of the hub's schema that can hold text: text, varchar, json, jsonb and their arrays — read from the catalogue, not listed here. */
async function textColumns(): Promise<{ table: string; column: string }[]> {
  const { rows } = await sql<{ table: string; column: string }>`
    SELECT c.table_name AS table, c.column_name AS column
    FROM information_schema.columns c JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
           OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar', '_bpchar', '_json', '_jsonb')))
    ORDER BY 1, 2`.execute(hub.database.db)
  return rows
}

/** `table.column` for every text-holding column with a value containing one of `markers` (case-insensitive). */
async function columnsHolding(markers: string[]): Promise<string[]> {
  const hits: string[] = []
  const patterns = markers.map((m) => `%${m}%`)
  for (const { table, column } of await textColumns()) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE ${sql.ref(column)}::text ILIKE ANY (${patterns}::text[])`.execute(hub.database.db)
    if (rows[0]!.n > 0) hits.push(`${table}.${column}`)
  }
  return hits
}

const points = (body: Record<string, unknown>) => call('POST', '/ledgers/reward-points/transactions', { idempotencyKey: unique('k'), ...body })

describe('POST /customer/:id/erase', () => {
  // every personal value below holds `tag` (or, for the phones, is one of `phones`), so one scan finds them all
  const tag = `zqx${Math.random().toString(36).slice(2, 8)}`
  const base = Math.floor(Math.random() * 9000) + 500
  const phones = [0, 1, 2].map((n) => `+1415555${String(base + n).padStart(4, '0')}`)
  const markers = [tag, ...phones.map((p) => p.slice(1))]
  const email = `${tag}.person@example.com`
  const absorbedEmail = `${tag}.absorbed@example.com`
  const newEmail = `${tag}.pending@example.com`
  const platformId = `${tag}-shop-42`
  let person: string
  let absorbed: string
  let separated: string
  let separatedEmail: string
  let absorbMerge: string
  let refreshToken: string
  let accessToken: string
  let before: { orderCount: number; totalSpent: string; balance: string; entries: number }
  let hitsBefore: string[]
  let first: { status: number; body: any }
  let referral: Record<string, unknown>
  let referralAccount: string
  let referralTransaction: string

  beforeAll(async () => {
    const created = await call('POST', '/customer', {
      email, password, firstName: `${tag}First`, lastName: `${tag}Last`, metadata: { note: `${tag} likes tea`, nested: { nick: `${tag}nick` } },
    })
    expect(created.status, created.raw).toBe(201)
    person = created.body.id
    const platform = await hub.platform()
    const synced = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalIdField: 'shopCustomerId', externalId: platformId }, email, firstName: `${tag}First` }, platform)
    expect(synced.status, synced.raw).toBe(200)
    expect(synced.body.customer.id).toBe(person)
    const address = { label: `${tag} home`, firstName: `${tag}First`, lastName: `${tag}Last`, line1: `12 ${tag} Row`, line2: `Flat ${tag}`, city: `${tag}ton`, postalCode: `${tag}9`, country: 'GB', phone: phones[2] }
    expect((await call('POST', `/customer/${person}/address`, address)).status).toBe(201)
    expect((await call('POST', `/customer/${person}/group`, { group: `${tag}-group` })).status).toBe(200)
    const order = { platform: 'shop', externalId: unique('order'), customerId: person, total: 5000, currency: 'USD', placedAt: new Date().toISOString() }
    expect((await call('POST', '/orders', order)).status).toBe(201)
    expect((await points({ kind: 'earn', customerId: person, amount: 500 })).status).toBe(201)
    expect((await points({ kind: 'spend', customerId: person, amount: 120 })).status).toBe(201)
    // the ledger's free-form fields, written by a platform with the person's data in them
    const earned = await points({ kind: 'earn', customerId: person, amount: 40, idempotencyKey: `${tag}-welcome-${email}`, reference: `signup ${email}`, metadata: { note: `${tag}First's birthday`, channel: 'web' } })
    expect(earned.status, earned.raw).toBe(201)
    const adjusted = await points({ kind: 'adjust', customerId: person, amount: 15, reason: `${tag}First complained about a late parcel`, metadata: { ticket: `${tag}-ticket` } })
    expect(adjusted.status, adjusted.raw).toBe(201)
    const held = await call('POST', '/ledgers/reward-points/holds', { idempotencyKey: `cart-${email}`, customerId: person, amount: 10, ttlSeconds: 600, reference: `cart of ${tag}First` })
    expect(held.status, held.raw).toBe(201)
    // another customer's points that name the person: a referral
    const referrer = (await call('POST', '/customer', { email: `${unique('referrer')}@example.com` })).body.id as string
    referral = { kind: 'earn', customerId: referrer, amount: 25, idempotencyKey: `referral-${email}`, reference: `referred ${email}`, metadata: { source: 'referral' } }
    referralAccount = referrer
    const referred = await points(referral)
    expect(referred.status, referred.raw).toBe(201)
    referralTransaction = referred.body.transaction.id
    // a gift card redeemed for the person's order, the order named by the email
    const onboarded = await call('POST', '/sellers/onboarding', {
      seller: { id: unique('sel'), handle: unique('brand').replace(/-/g, '_'), name: 'Brand', email: 'brand@example.com' },
      ownerMember: { id: unique('mem'), email: 'owner@example.com' },
      serviceAccount: { password: 'seller secret passphrase', roleId: '3', organizationId: '12' },
    }, platform)
    expect(onboarded.status, onboarded.raw).toBe(201)
    const sellerLogin = await call('POST', '/auth/login', { email: onboarded.body.serviceAccount.email, password: 'seller secret passphrase' }, {})
    const code = unique('GIFT')
    expect((await call('POST', '/coupons/gift-cards/sync', { code, balance: 5000, currency: 'USD', expiresAt: null }, bearer(sellerLogin.body.accessToken))).status).toBe(201)
    // an imported order history and points balance of the person, keyed by its platform id
    const importDir = mkdtempSync(join(tmpdir(), 'hub-erase-import-'))
    writeFileSync(join(importDir, 'shop.jsonl'), `${JSON.stringify({ externalId: platformId, email, orderCount: 2, totalSpent: 3000, currency: 'USD', points: 30 })}\n`)
    const imported = await runImport({ db: hub.database.db, services: hub.app.services, settings: hub.config.customer, identity: hub.config.identity, path: join(importDir, 'shop.jsonl'), component: 'identity.shop' })
    expect(imported).toMatchObject({ matched: 1, partial: 0 })
    const redeemed = await call('POST', '/coupons/redeem', { code, amount: 700, idempotencyKey: `${email}-redeem`, orderRef: `order of ${email}` }, platform)
    expect(redeemed.status, redeemed.raw).toBe(201)

    // a change kept for retries under an Idempotency-Key: its answer holds the new name
    const kept = await call('PATCH', `/customer/${person}`, { lastName: `${tag}Changed` }, { ...hub.admin, 'idempotency-key': unique('idem') })
    expect(kept.status, kept.raw).toBe(200)

    // another record of the same person, merged into it: it fills the phone the person lacked
    const other = await call('POST', '/customer', { email: absorbedEmail, phone: phones[0], firstName: `${tag}Other` })
    absorbed = other.body.id
    expect((await call('POST', `/customer/${absorbed}/address`, { line1: `1 ${tag} Park`, city: 'Surrey', country: 'GB' })).status).toBe(201)
    expect((await points({ kind: 'earn', customerId: absorbed, amount: 80 })).status).toBe(201)
    const merged = await call('POST', `/customer/${person}/merge`, { sourceId: absorbed })
    expect(merged.status, merged.raw).toBe(200)
    absorbMerge = merged.body.merge.id

    // a record merged and separated again: another person, whose data must stay
    separatedEmail = `${unique('separated')}@example.com`
    separated = (await call('POST', '/customer', { email: separatedEmail, firstName: 'Grace' })).body.id
    const merge = await call('POST', `/customer/${person}/merge`, { sourceId: separated })
    expect((await call('POST', `/merges/${merge.body.merge.id}/undo`)).status).toBe(200)

    // token flows: a session, a change of email waiting for its token, a reset link
    const login = await call('POST', '/auth/login', { email, password }, {})
    expect(login.status, login.raw).toBe(200)
    ;({ refreshToken, accessToken } = login.body as Session)
    const change = await call('PATCH', '/customer/me', { email: newEmail, phone: phones[1], currentPassword: password }, bearer(accessToken))
    expect(change.status, change.raw).toBe(200)
    expect(change.body.pending).toEqual({ email: newEmail, phone: phones[1] })
    expect((await call('POST', '/auth/password-reset/request', { email }, {})).status).toBe(202)
    expect((await call('GET', `/customer/${person}/export`)).status).toBe(200)

    const row = await hub.database.db.selectFrom('customers').select(['order_count', 'total_spent']).where('id', '=', person).executeTakeFirstOrThrow()
    const account = await hub.database.db.selectFrom('reward_accounts').select(['balance', 'entry_count']).where('customer_id', '=', person).executeTakeFirstOrThrow()
    before = { orderCount: row.order_count, totalSpent: String(row.total_spent), balance: String(account.balance), entries: Number(account.entry_count) }
    hitsBefore = await columnsHolding(markers)

    first = await call('POST', `/customer/${person}/erase`)
  })

  it('the scan reads every text, varchar, json(b) and array column of every table, and finds the person everywhere before the erase', async () => {
    const columns = (await textColumns()).map((c) => `${c.table}.${c.column}`)
    for (const known of ['customers.email', 'customers.metadata', 'customers.groups', 'addresses.line1', 'identities.raw_value', 'events.payload', 'merges.moved', 'idempotency_keys.response', 'one_time_tokens.value']) {
      expect(columns).toContain(known)
    }
    expect(hitsBefore).toEqual(expect.arrayContaining([
      'customers.email', 'customers.first_name', 'customers.last_name', 'customers.metadata', 'customers.groups', 'customers.phone', 'customers.search',
      'addresses.line1', 'addresses.line2', 'addresses.city', 'addresses.postal_code', 'addresses.label', 'addresses.phone',
      'identities.value', 'identities.raw_value', 'events.payload', 'merges.moved', 'idempotency_keys.response', 'one_time_tokens.email', 'one_time_tokens.value',
      'ledger_transactions.reference', 'ledger_transactions.reason', 'ledger_transactions.metadata', 'ledger_transactions.idempotency_key',
      'ledger_holds.reference', 'ledger_holds.idempotency_key', 'coupon_redemptions.order_ref', 'coupon_redemptions.idempotency_key', 'orders.external_id',
    ]))
  })

  it('answers 200 with the customer, the time and the records erased', () => {
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect(first.body).toEqual({ customerId: person, erasedAt: expect.any(String), records: expect.arrayContaining([person, absorbed]) })
    expect(first.body.records).toHaveLength(2)
  })

  it('leaves no email, phone, name, address line, metadata or platform id of the person in any column of any table', async () => {
    expect(await columnsHolding(markers)).toEqual([])
  })

  it('keeps the ids, the order totals, the reward account, and a ledger whose hash chains still verify', async () => {
    const row = await hub.database.db.selectFrom('customers').select(['id', 'order_count', 'total_spent', 'erased_at', 'deleted_at', 'merged_into']).where('id', 'in', [person, absorbed]).orderBy('id').execute()
    const mine = row.find((r) => r.id === person)!
    expect({ orderCount: mine.order_count, totalSpent: String(mine.total_spent) }).toEqual({ orderCount: before.orderCount, totalSpent: before.totalSpent })
    expect(mine.erased_at).not.toBeNull()
    expect(row.find((r) => r.id === absorbed)!.merged_into).toBe(person)
    const account = await hub.database.db.selectFrom('reward_accounts').select(['balance', 'entry_count']).where('customer_id', '=', person).executeTakeFirstOrThrow()
    expect({ balance: String(account.balance), entries: Number(account.entry_count) }).toEqual({ balance: before.balance, entries: before.entries })
    const verify = await call('GET', '/ledgers/reward-points/verify')
    expect(verify.status, verify.raw).toBe(200)
    expect(verify.body.problems).toEqual([])
    expect(verify.body.ok).toBe(true)
    const orders = await hub.database.db.selectFrom('orders').select('total').where('customer_id', '=', person).execute()
    // the order, and the history the import brought (its key no longer names the platform's id)
    expect(orders.map((o) => Number(o.total)).sort()).toEqual([3000, 5000])
  })

  it('keeps what a platform wrote beside the person in the ledger: amounts, kinds, metadata without the person, references that name no one', async () => {
    const { rows } = await sql<{ kind: string; reference: string | null; reason: string | null; metadata: unknown; idempotency_key: string }>`
      SELECT t.kind, t.reference, t.reason, t.metadata, t.idempotency_key FROM ledger_transactions t
      WHERE t.id IN (SELECT transaction_id FROM ledger_entries e JOIN reward_accounts a ON a.id = e.account_id WHERE a.customer_id = ${referralAccount})`.execute(hub.database.db)
    expect(rows).toHaveLength(1)
    // the referral named the person: its reference goes, its metadata (no one's) stays, its key is the erased form
    expect(rows[0]).toMatchObject({ kind: 'earn', reference: null, idempotency_key: expect.stringMatching(/^erased:[0-9a-f]{64}$/) })
    expect(typeof rows[0]!.metadata === 'string' ? JSON.parse(rows[0]!.metadata) : rows[0]!.metadata).toEqual({ source: 'referral' })
    const own = await sql<{ metadata: unknown }>`
      SELECT metadata FROM ledger_transactions WHERE id IN (SELECT transaction_id FROM ledger_entries e JOIN reward_accounts a ON a.id = e.account_id WHERE a.customer_id = ${person})`.execute(hub.database.db)
    for (const row of own.rows) expect(typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata).toEqual({})
  })

  it('a retry with a key the erase rewrote still replays the first transaction: nothing is posted twice', async () => {
    const before = await call('GET', `/customer/${referralAccount}/reward-accounts`)
    const again = await points(referral)
    expect(again.status, again.raw).toBe(200)
    expect(again.body.transaction.id).toBe(referralTransaction)
    const after = await call('GET', `/customer/${referralAccount}/reward-accounts`)
    expect(after.body).toEqual(before.body)
  })

  it('the ledger stays insert-only outside an erase, and an erase can change only the free-form columns', async () => {
    const db = hub.database.db
    await expect(sql`UPDATE ledger_transactions SET reason = 'edited' WHERE metadata->>'source' = 'referral'`.execute(db)).rejects.toThrow(/insert-only/)
    await expect(hub.database.db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('hub.erasing', 'on', true)`.execute(tx)
      await sql`UPDATE ledger_transactions SET created_at = created_at + interval '1 second' WHERE metadata->>'source' = 'referral'`.execute(tx)
    })).rejects.toThrow(/insert-only/)
    await expect(sql`UPDATE coupon_redemptions SET order_ref = 'edited'`.execute(db)).rejects.toThrow(/insert-only/)
    await expect(sql`DELETE FROM ledger_transactions WHERE metadata->>'source' = 'referral'`.execute(db)).rejects.toThrow(/insert-only/)
  })

  it('emits customer.erased with the id and the time only, for the customer and the record merged into it', async () => {
    const { rows } = await sql<{ customer_id: string; payload: unknown }>`SELECT customer_id, payload FROM events WHERE type = 'customer.erased' ORDER BY position`.execute(hub.database.db)
    const payloads = rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload))
    expect(payloads).toEqual(expect.arrayContaining([{ customerId: person, erasedAt: first.body.erasedAt }, { customerId: absorbed, erasedAt: first.body.erasedAt }]))
    expect(rows.map((r) => r.customer_id).sort()).toEqual([person, absorbed].sort())
  })

  it('keeps the events themselves (ids, types, order): only their personal fields are gone', async () => {
    const res = await call('GET', `/events?customerId=${person}&limit=500`)
    expect(res.status, res.raw).toBe(200)
    const types = res.body.data.map((e: { type: string }) => e.type)
    expect(types).toEqual(expect.arrayContaining(['customer.created', 'customer.identity_linked', 'customer.address_added', 'customer.merged', 'customer.erased']))
    const createdEvent = res.body.data.find((e: { type: string }) => e.type === 'customer.created')
    expect(createdEvent.payload.customer).toMatchObject({ id: person, email: null, firstName: null, lastName: null, metadata: {} })
  })

  it('a second erase answers the same, and changes nothing', async () => {
    const again = await call('POST', `/customer/${person}/erase`)
    expect(again.status).toBe(200)
    expect(again.body).toEqual(first.body)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE type = 'customer.erased'`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(2)
  })

  it('every route naming the erased customer or the record erased with it answers 410 CUSTOMER_ERASED; its sessions are over', async () => {
    for (const id of [person, absorbed]) {
      expectError(await call('GET', `/customer/${id}`), 410, 'CUSTOMER_ERASED')
      expectError(await call('GET', `/customer/${id}/export`), 410, 'CUSTOMER_ERASED')
      expectError(await call('PATCH', `/customer/${id}`, { firstName: 'Back' }), 410, 'CUSTOMER_ERASED')
    }
    expectError(await call('GET', '/customer/me', undefined, bearer(accessToken)), 410, 'CUSTOMER_ERASED')
    expectError(await points({ kind: 'earn', customerId: person, amount: 5 }), 410, 'CUSTOMER_ERASED')
    const listed = await call('GET', `/customer?email=${encodeURIComponent(email)}`)
    expect(listed.status, listed.raw).toBe(200)
    expect(listed.body.data).toEqual([])
    expectError(await call('POST', '/auth/refresh', { refreshToken }, {}), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await call('POST', '/auth/login', { email, password }, {}), 401, 'INVALID_CREDENTIALS')
  })

  it('never brings the person back: undo is refused, a merge with it is refused, a sync with its identifiers makes a new customer', async () => {
    const undo = await call('POST', `/merges/${absorbMerge}/undo`)
    expectError(undo, 409, 'MERGE_UNDO_CONFLICT')
    expect(undo.body.message).toContain('erased')
    const fresh = (await call('POST', '/customer', { email: `${unique('fresh')}@example.com` })).body.id
    expectError(await call('POST', `/customer/${fresh}/merge`, { sourceId: person }), 410, 'CUSTOMER_ERASED')
    expectError(await call('POST', `/customer/${person}/merge`, { sourceId: fresh }), 410, 'CUSTOMER_ERASED')

    const platform = await hub.platform()
    const sync = await call('POST', '/customer/sync', { platform: { component: 'identity.shop', externalIdField: 'shopCustomerId', externalId: platformId }, email, phone: phones[0] }, platform)
    expect(sync.status, sync.raw).toBe(201)
    expect([person, absorbed]).not.toContain(sync.body.customer.id)
    expect(sync.body.customer.email).toBe(email)
    const again = await call('POST', '/customer/sync', { platform: { component: 'identity.other', externalIdField: 'otherId', externalId: unique('o') }, email: absorbedEmail }, platform)
    expect(again.status, again.raw).toBe(201)
    expect([person, absorbed, sync.body.customer.id]).not.toContain(again.body.customer.id)
    const identities = await hub.database.db.selectFrom('identities').select('id').where('customer_id', 'in', [person, absorbed]).execute()
    expect(identities).toEqual([])
  })

  it('leaves the separated record — another person — as it was', async () => {
    const res = await call('GET', `/customer/${separated}`)
    expect(res.status, res.raw).toBe(200)
    expect(res.body).toMatchObject({ email: separatedEmail, firstName: 'Grace' })
  })

  it('answers 404 for an unknown id and 410 CUSTOMER_MERGED for a record merged into a live customer', async () => {
    expectError(await call('POST', '/customer/cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE/erase'), 404, 'CUSTOMER_NOT_FOUND')
    const a = (await call('POST', '/customer', { email: `${unique('a')}@example.com` })).body.id
    const b = (await call('POST', '/customer', { email: `${unique('b')}@example.com` })).body.id
    expect((await call('POST', `/customer/${a}/merge`, { sourceId: b })).status).toBe(200)
    const res = await call('POST', `/customer/${b}/erase`)
    expectError(res, 410, 'CUSTOMER_MERGED')
    expect(res.body.details).toEqual({ mergedInto: a })
  })

  it('erases a deleted customer too: its row still held its personal fields', async () => {
    const name = `${tag}Deleted`
    const id = (await call('POST', '/customer', { email: `${unique('deleted')}@example.com`, firstName: name })).body.id
    expect((await call('DELETE', `/customer/${id}`)).status).toBe(200)
    const res = await call('POST', `/customer/${id}/erase`)
    expect(res.status, res.raw).toBe(200)
    expect(await columnsHolding([name])).toEqual([])
    expectError(await call('GET', `/customer/${id}`), 410, 'CUSTOMER_ERASED')
  })

  it('is for admins only', async () => {
    const platform = await hub.platform()
    expectError(await call('POST', `/customer/${separated}/erase`, undefined, platform), 403, 'FORBIDDEN')
  })
})
