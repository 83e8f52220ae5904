import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, unique, type Call } from '../../test/helpers/requests.js'

let hub: TestHub
let call: Call
let seq = 0
/** A valid Thai mobile number, different on every call. */
const newPhone = () => `+668${String(10_000_000 + (++seq * 7919) % 89_999_999).padStart(8, '0')}`

async function newCustomer(fields: Record<string, unknown> = { email: `${unique('c')}@example.com` }): Promise<any> {
  const res = await call('POST', '/customer', fields)
  expect(res.status, res.raw).toBe(201)
  return res.body
}

async function eventsOf(customerId: string) {
  const { rows } = await sql<{ type: string; payload: any }>`
    SELECT type, payload FROM events WHERE customer_id = ${customerId} ORDER BY position`.execute(hub.database.db)
  return rows
}

async function identityRows(customerId: string) {
  const { rows } = await sql<{ id: string; kind: string; value: string }>`
    SELECT id, kind, value FROM identities WHERE customer_id = ${customerId} ORDER BY created_at, id`.execute(hub.database.db)
  return rows
}

/** The customer's email/phone fields each name one of its identities of that kind, or are null when it has none. */
async function expectFieldsAgree(customerId: string) {
  const customer = (await call('GET', `/customer/${customerId}`)).body
  const ids = await identityRows(customerId)
  for (const kind of ['email', 'phone'] as const) {
    const values = ids.filter((i) => i.kind === kind).map((i) => i.value)
    if (values.length === 0) expect(customer[kind], kind).toBeNull()
    else expect(values, kind).toContain(customer[kind])
  }
  return customer
}

beforeAll(async () => {
  hub = await createTestHub({ customer: { defaultCountry: 'TH' } })
  call = client(hub)
})
afterAll(async () => hub?.close())

describe('GET /customer/:id/identities', () => {
  it('lists email, phone and platform identities with the normalized value and the value as sent', async () => {
    const email = `${unique('List')}@Example.COM`
    const synced = await call('POST', '/customer/sync', {
      platform: { component: 'identity.store-a', externalIdField: 'storeCustomerId', externalId: ' ext-1 ' },
      email: ` ${email} `,
      phone: '081-234-0001',
    })
    expect(synced.status, synced.raw).toBe(201)
    const id = synced.body.customer.id
    const res = await call('GET', `/customer/${id}/identities`)
    expect(res.status).toBe(200)
    const byKind = Object.fromEntries(res.body.data.map((i: any) => [i.kind, i]))
    expect(res.body.data).toHaveLength(3)
    expect(byKind.email).toMatchObject({ customerId: id, namespace: '', value: email.toLowerCase(), rawValue: ` ${email} `, externalIdField: null })
    expect(byKind.phone).toMatchObject({ customerId: id, namespace: '', value: '+66812340001', rawValue: '081-234-0001' })
    expect(byKind.platform).toMatchObject({ customerId: id, namespace: 'identity.store-a', value: 'ext-1', rawValue: ' ext-1 ', externalIdField: 'storeCustomerId' })
    for (const i of res.body.data) expect(i.id).toMatch(/^idn_/)
  })

  it('answers 400 for a malformed id and 404 for an unknown customer', async () => {
    expectError(await call('GET', '/customer/nope/identities'), 404, 'CUSTOMER_NOT_FOUND')
    const gone = await newCustomer()
    await call('DELETE', `/customer/${gone.id}`)
    expectError(await call('GET', `/customer/${gone.id}/identities`), 404, 'CUSTOMER_NOT_FOUND')
  })
})

describe('POST /customer/:id/identities', () => {
  it('links a new identity (201) with an event, and answers a repeat with 200 and the same identity', async () => {
    const c = await newCustomer()
    const first = await call('POST', `/customer/${c.id}/identities`, { kind: 'platform', namespace: 'identity.store-b', value: 'B-77', externalIdField: 'bId' })
    expect(first.status, first.raw).toBe(201)
    expect(first.body).toMatchObject({ customerId: c.id, kind: 'platform', namespace: 'identity.store-b', value: 'B-77', rawValue: 'B-77', externalIdField: 'bId' })
    const again = await call('POST', `/customer/${c.id}/identities`, { kind: 'platform', namespace: 'identity.store-b', value: ' B-77 ' })
    expect(again.status, again.raw).toBe(200)
    expect(again.body).toEqual(first.body)
    const linked = (await eventsOf(c.id)).filter((e) => e.type === 'customer.identity_linked')
    expect(linked).toHaveLength(1)
    expect(linked[0]!.payload).toMatchObject({ customerId: c.id, identity: { id: first.body.id, value: 'B-77' } })
  })

  it('refuses an identity another customer holds with 409 IDENTITY_TAKEN naming the holder, changing nothing', async () => {
    const holder = await newCustomer()
    const other = await newCustomer()
    const phone = newPhone()
    expect((await call('POST', `/customer/${holder.id}/identities`, { kind: 'phone', value: phone })).status).toBe(201)
    const before = { ids: await identityRows(other.id), events: (await eventsOf(other.id)).length, customer: (await call('GET', `/customer/${other.id}`)).body }
    const platformValue = unique('P')
    expect((await call('POST', `/customer/${holder.id}/identities`, { kind: 'platform', namespace: 'identity.store-b', value: platformValue })).status).toBe(201)
    for (const input of [
      { kind: 'email', value: holder.email.toUpperCase() },
      { kind: 'phone', value: phone },
      { kind: 'platform', namespace: 'identity.store-b', value: ` ${platformValue}` },
    ]) {
      const res = await call('POST', `/customer/${other.id}/identities`, input)
      expectError(res, 409, 'IDENTITY_TAKEN')
      expect(res.body.details).toEqual({ customerId: holder.id })
    }
    expect(await identityRows(other.id)).toEqual(before.ids)
    expect((await eventsOf(other.id)).length).toBe(before.events)
    expect((await call('GET', `/customer/${other.id}`)).body).toEqual(before.customer)
    expect((await identityRows(holder.id)).map((i) => i.value)).toEqual([holder.email, phone, platformValue])
    // the same platform id in another namespace is another identity
    expect((await call('POST', `/customer/${other.id}/identities`, { kind: 'platform', namespace: 'identity.store-c', value: platformValue })).status).toBe(201)
  })

  it('answers 400 for a platform identity without namespace, an invalid email or phone, or a bad body, changing nothing', async () => {
    const c = await newCustomer()
    const before = await identityRows(c.id)
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'platform', value: 'x-1' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'platform', namespace: 'identity.store-b', value: '   ' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'email', value: 'not-an-email' }), 400, 'INVALID_EMAIL')
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'phone', value: '12' }), 400, 'INVALID_PHONE')
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'fax', value: '12' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', `/customer/${c.id}/identities`, { kind: 'email', value: `${unique('e')}@example.com`, extra: true }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/customer/cus_bad!/identities', { kind: 'email', value: `${unique('e')}@example.com` }), 404, 'CUSTOMER_NOT_FOUND')
    expect(await identityRows(c.id)).toEqual(before)
  })

  it('sets the email or phone field of a customer that had none, and leaves a set one alone', async () => {
    const c = await newCustomer({ phone: newPhone() })
    expect(c.email).toBeNull()
    const email = `${unique('Fill')}@Example.com`
    const linked = await call('POST', `/customer/${c.id}/identities`, { kind: 'email', value: email })
    expect(linked.status).toBe(201)
    expect((await expectFieldsAgree(c.id)).email).toBe(email.toLowerCase())
    const second = `${unique('second')}@example.com`
    expect((await call('POST', `/customer/${c.id}/identities`, { kind: 'email', value: second })).status).toBe(201)
    expect((await expectFieldsAgree(c.id)).email).toBe(email.toLowerCase())
  })

  it('links the same email to two customers at once: exactly one wins, the other gets 409 naming the winner', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await newCustomer({ phone: newPhone() })
      const b = await newCustomer({ phone: newPhone() })
      const email = `${unique('race')}@example.com`
      const [ra, rb] = await Promise.all([
        call('POST', `/customer/${a.id}/identities`, { kind: 'email', value: email }),
        call('POST', `/customer/${b.id}/identities`, { kind: 'email', value: email }),
      ])
      const statuses = [ra.status, rb.status].sort()
      expect(statuses).toEqual([201, 409])
      const winner = ra.status === 201 ? a : b
      const loser = ra.status === 201 ? rb : ra
      expect(loser.body).toMatchObject({ code: 'IDENTITY_TAKEN', details: { customerId: winner.id } })
      const { rows } = await sql<{ customer_id: string }>`SELECT customer_id FROM identities WHERE kind = 'email' AND value = ${email}`.execute(hub.database.db)
      expect(rows).toEqual([{ customer_id: winner.id }])
      await expectFieldsAgree(a.id)
      await expectFieldsAgree(b.id)
    }
  })

  it('refuses to link to a merged or deleted customer', async () => {
    const gone = await newCustomer()
    await call('DELETE', `/customer/${gone.id}`)
    expectError(await call('POST', `/customer/${gone.id}/identities`, { kind: 'email', value: `${unique('d')}@example.com` }), 404, 'CUSTOMER_NOT_FOUND')
    const target = await newCustomer()
    const source = await newCustomer()
    expect((await call('POST', `/customer/${target.id}/merge`, { sourceId: source.id })).status).toBe(200)
    const res = await call('POST', `/customer/${source.id}/identities`, { kind: 'email', value: `${unique('m')}@example.com` })
    expectError(res, 410, 'CUSTOMER_MERGED')
    expect(res.body.details).toEqual({ mergedInto: target.id })
  })
})

describe('DELETE /customer/:id/identities/:identityId', () => {
  it('removes the identity, moves the field to another identity of that kind, then to null', async () => {
    const first = `${unique('first')}@example.com`
    const c = await newCustomer({ email: first })
    const second = (await call('POST', `/customer/${c.id}/identities`, { kind: 'email', value: `${unique('second')}@example.com` })).body
    const firstId = (await identityRows(c.id)).find((i) => i.value === first)!.id

    const res = await call('DELETE', `/customer/${c.id}/identities/${firstId}`)
    expect(res.status, res.raw).toBe(200)
    expect(res.body).toEqual({ deleted: true, id: firstId })
    expect((await expectFieldsAgree(c.id)).email).toBe(second.value)
    const unlinked = (await eventsOf(c.id)).filter((e) => e.type === 'customer.identity_unlinked')
    expect(unlinked).toHaveLength(1)
    expect(unlinked[0]!.payload).toMatchObject({ customerId: c.id, identity: { id: firstId, value: first } })

    expect((await call('DELETE', `/customer/${c.id}/identities/${second.id}`)).status).toBe(200)
    expect((await expectFieldsAgree(c.id)).email).toBeNull()
    expect((await call('GET', `/customer/${c.id}/identities`)).body.data).toEqual([])
    // the freed email can go to someone else
    expect((await newCustomer({ email: first })).email).toBe(first)
  })

  it('unlinking an identity that is not the field leaves the field alone', async () => {
    const phone = newPhone()
    const c = await newCustomer({ email: `${unique('p')}@example.com`, phone })
    const extra = (await call('POST', `/customer/${c.id}/identities`, { kind: 'phone', value: newPhone() })).body
    expect((await call('DELETE', `/customer/${c.id}/identities/${extra.id}`)).status).toBe(200)
    expect((await expectFieldsAgree(c.id)).phone).toBe(phone)
  })

  it("answers 404 IDENTITY_NOT_FOUND for an unknown or another customer's identity and 400 for a bad id, changing nothing", async () => {
    const a = await newCustomer()
    const b = await newCustomer()
    const bIdentity = (await identityRows(b.id))[0]!
    const before = await eventsOf(b.id)
    expectError(await call('DELETE', `/customer/${a.id}/identities/${bIdentity.id}`), 404, 'IDENTITY_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${a.id}/identities/idn_00000000000000000000000000`), 404, 'IDENTITY_NOT_FOUND')
    expectError(await call('DELETE', `/customer/${a.id}/identities/not-an-id`), 400, 'INVALID_ID')
    expectError(await call('DELETE', `/customer/nope/identities/${bIdentity.id}`), 404, 'CUSTOMER_NOT_FOUND')
    expect(await identityRows(b.id)).toEqual([bIdentity])
    expect(await eventsOf(b.id)).toEqual(before)
  })
})

describe('GET /customer/lookup', () => {
  const lookup = (query: Record<string, string>) => call('GET', `/customer/lookup?${new URLSearchParams(query)}`)

  it('finds a customer by platform id, email or phone and says which rule matched', async () => {
    const email = `${unique('look')}@example.com`
    const phone = newPhone()
    const synced = (await call('POST', '/customer/sync', { platform: { component: 'identity.store-c', externalId: 'C-1' }, email, phone })).body
    const id = synced.customer.id
    const byPlatform = await lookup({ component: 'identity.store-c', externalId: 'C-1', email: `${unique('other')}@example.com` })
    expect(byPlatform.status, byPlatform.raw).toBe(200)
    expect(byPlatform.body).toMatchObject({ matchedBy: 'platform', customer: { id, email } })
    expect((await lookup({ component: 'identity.store-x', externalId: 'C-1', email: email.toUpperCase() })).body).toMatchObject({ matchedBy: 'email', customer: { id } })
    expect((await lookup({ phone: phone.replace('+66', '0') })).body).toMatchObject({ matchedBy: 'phone', customer: { id } })
    expect((await lookup({ phone, email })).body).toMatchObject({ matchedBy: 'email', customer: { id } })
  })

  it('refuses a phone-only match when an email is given and the phone belongs to someone with another email', async () => {
    const phone = newPhone()
    const owner = await newCustomer({ email: `${unique('owner')}@example.com`, phone })
    expectError(await lookup({ phone, email: `${unique('spouse')}@example.com` }), 404, 'NO_MATCH')
    // without the email, or with the owner's email, the phone finds the owner
    expect((await lookup({ phone })).body.customer.id).toBe(owner.id)
    // a phone owner without an email is no conflict
    const noEmailPhone = newPhone()
    const noEmail = await newCustomer({ phone: noEmailPhone })
    expect((await lookup({ phone: noEmailPhone, email: `${unique('x')}@example.com` })).body).toMatchObject({ matchedBy: 'phone', customer: { id: noEmail.id } })
  })

  it('answers 400 when nothing is given and 404 NO_MATCH for unknown identifiers', async () => {
    expectError(await lookup({}), 400, 'IDENTIFIER_REQUIRED')
    expectError(await lookup({ component: 'identity.store-c' }), 400, 'IDENTIFIER_REQUIRED')
    expectError(await lookup({ email: 'bad' }), 400, 'INVALID_EMAIL')
    expectError(await lookup({ other: 'x' }), 400, 'VALIDATION_FAILED')
    expectError(await lookup({ email: `${unique('nobody')}@example.com` }), 404, 'NO_MATCH')
    expectError(await lookup({ component: 'identity.store-c', externalId: unique('none') }), 404, 'NO_MATCH')
    expectError(await lookup({ phone: newPhone() }), 404, 'NO_MATCH')
  })

  it('does not find a deleted customer', async () => {
    const c = await newCustomer()
    await call('DELETE', `/customer/${c.id}`)
    expectError(await lookup({ email: c.email }), 404, 'NO_MATCH')
  })
})

describe('reward accounts', () => {
  it('creates the account once (201 created:true), then answers 200 created:false, and lists it', async () => {
    const c = await newCustomer()
    const first = await call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'reward-points' })
    expect(first.status, first.raw).toBe(201)
    expect(first.body).toMatchObject({ created: true, account: { ledger: 'reward-points', customerId: c.id } })
    expect(first.body.account.id).toMatch(/^rwa_/)
    const again = await call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'reward-points' })
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ created: false, account: first.body.account })
    const list = await call('GET', `/customer/${c.id}/reward-accounts`)
    expect(list.body).toEqual({ data: [{ ...first.body.account, balance: 0, available: 0, held: 0, pending: 0, lots: [] }] })
    expect((await eventsOf(c.id)).filter((e) => e.type === 'reward_account.created')).toHaveLength(1)
  })

  it('makes one account when many ensures arrive at once', async () => {
    const c = await newCustomer()
    const answers = await Promise.all(Array.from({ length: 8 }, () => call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'reward-points' })))
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1)
    expect(answers.filter((a) => a.status === 200)).toHaveLength(7)
    expect(new Set(answers.map((a) => a.body.account.id)).size).toBe(1)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM reward_accounts WHERE customer_id = ${c.id}`.execute(hub.database.db)
    expect(rows[0]!.n).toBe(1)
    expect((await eventsOf(c.id)).filter((e) => e.type === 'reward_account.created')).toHaveLength(1)
  })

  it('answers 404 LEDGER_NOT_FOUND for an unknown ledger, 404 for an unknown customer, 400 for a bad handle', async () => {
    const c = await newCustomer()
    expectError(await call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'no-such-ledger' }), 404, 'LEDGER_NOT_FOUND')
    expectError(await call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'Bad Handle' }), 400, 'VALIDATION_FAILED')
    expectError(await call('POST', '/customer/cus_00000000000000000000000000/reward-accounts', { ledger: 'reward-points' }), 404, 'CUSTOMER_NOT_FOUND')
    expect((await call('GET', `/customer/${c.id}/reward-accounts`)).body).toEqual({ data: [] })
    expectError(await call('GET', '/customer/nope/reward-accounts'), 404, 'CUSTOMER_NOT_FOUND')
  })

  it('is open to platform tokens', async () => {
    const platform = await hub.platform()
    const c = await newCustomer()
    expect((await call('POST', `/customer/${c.id}/reward-accounts`, { ledger: 'reward-points' }, platform)).status).toBe(201)
    expect((await call('GET', `/customer/${c.id}/identities`, undefined, platform)).status).toBe(200)
  })
})

describe('PATCH /customer/:id with several identities of a kind', () => {
  it('moves only the primary email, keeps the others, and points a cleared phone at another one', async () => {
    const first = `${unique('first')}@example.com`
    const second = `${unique('second')}@example.com`
    const phoneA = newPhone()
    const phoneB = newPhone()
    const customer = await newCustomer({ email: first, phone: phoneA })
    expect((await call('POST', `/customer/${customer.id}/identities`, { kind: 'email', value: second })).status).toBe(201)
    expect((await call('POST', `/customer/${customer.id}/identities`, { kind: 'phone', value: phoneB })).status).toBe(201)

    const moved = `${unique('moved')}@example.com`
    const patched = await call('PATCH', `/customer/${customer.id}`, { email: moved })
    expect(patched.status, patched.raw).toBe(200)
    expect(patched.body.email).toBe(moved)
    const emails = (await identityRows(customer.id)).filter((i) => i.kind === 'email').map((i) => i.value)
    expect(emails.sort()).toEqual([moved, second].sort())

    // the first email is free again; the second still belongs to this customer
    expect((await call('POST', '/customer', { email: first })).status).toBe(201)
    expectError(await call('POST', '/customer', { email: second }), 409, 'EMAIL_TAKEN')

    // making a held secondary email the primary keeps one identity of it
    const promoted = await call('PATCH', `/customer/${customer.id}`, { email: second })
    expect(promoted.body.email).toBe(second)
    expect((await identityRows(customer.id)).filter((i) => i.kind === 'email').map((i) => i.value)).toEqual([second])

    const cleared = await call('PATCH', `/customer/${customer.id}`, { phone: null })
    expect(cleared.status, cleared.raw).toBe(200)
    expect(cleared.body.phone).toBe(phoneB)
    await expectFieldsAgree(customer.id)
  })
})
