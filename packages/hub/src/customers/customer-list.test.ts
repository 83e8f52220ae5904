import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { client, expectError, type Call, type Res } from '../../test/helpers/requests.js'
import { createSearchStatistics, indexPart } from './search-pattern.js'

interface Model {
  id: string
  email: string
  firstName: string | null
  lastName: string | null
  phone: string | null
  groups: string[]
  orderCount: number
  totalSpent: number
  hasAccount: boolean
  createdAt: string
}

let hub: TestHub
let call: Call
const people: Model[] = []

// few distinct values, so that many customers share each sort value
const lastNames = ['Doe', 'doe', 'Smith', null, 'adams', 'Zed', 'DOE', 'Nguyen']
const firstNames = ['Ann', 'Bob', null, 'Dee', 'Joanna']
const days = ['2024-01-01T00:00:00.000Z', '2024-01-02T00:00:00.000Z', '2024-01-03T00:00:00.000Z', '2024-01-04T00:00:00.000Z', '2024-01-05T00:00:00.000Z']
const totals = [1000, 2500, 500]
const N = 62

beforeAll(async () => {
  hub = await createTestHub()
  call = client(hub)
  for (let i = 0; i < N; i++) {
    const groups = [i % 2 === 0 ? 'vip' : null, i % 3 === 0 ? 'wholesale' : null, i % 5 === 0 ? 'b2b' : null].filter((g): g is string => g !== null)
    const input: Record<string, unknown> = {
      email: `list-${i}@shop.example`,
      firstName: firstNames[i % firstNames.length],
      lastName: lastNames[(i * 3) % lastNames.length],
      ...(i % 4 === 0 ? { phone: `+1212736${String(1000 + i)}` } : {}),
      ...(i % 6 === 0 ? { password: 'list password 1' } : {}),
    }
    const created = await call('POST', '/customer', input)
    expect(created.status, created.raw).toBe(201)
    const id = created.body.id as string
    for (const group of groups) expect((await call('POST', `/customer/${id}/group`, { group })).status).toBe(200)
    const orderCount = i % 7
    let totalSpent = 0
    for (let j = 0; j < orderCount; j++) {
      const total = totals[(i + j) % totals.length]!
      totalSpent += total
      const order = await call('POST', '/orders', { platform: 'shop', externalId: `o-${i}-${j}`, customerId: id, total, currency: 'USD', placedAt: '2024-02-01T10:00:00.000Z' })
      expect(order.status, order.raw).toBe(201)
    }
    const createdAt = days[(i * 7) % days.length]!
    await hub.database.db.updateTable('customers').set({ created_at: createdAt }).where('id', '=', id).execute()
    people.push({
      id,
      email: `list-${i}@shop.example`,
      firstName: (input.firstName as string | null) ?? null,
      lastName: (input.lastName as string | null) ?? null,
      phone: (input.phone as string | undefined) ?? null,
      groups,
      orderCount,
      totalSpent,
      hasAccount: 'password' in input,
      createdAt,
    })
  }
  // deleted customers are never listed
  for (const gone of [people[5]!, people[12]!]) {
    expect((await call('DELETE', `/customer/${gone.id}`)).status).toBe(200)
    people.splice(people.indexOf(gone), 1)
  }
})
afterAll(async () => hub?.close())

type Field = 'createdAt' | 'totalSpent' | 'orderCount' | 'lastName'
const sortValue: Record<Field, (m: Model) => string | number> = {
  createdAt: (m) => Date.parse(m.createdAt),
  totalSpent: (m) => m.totalSpent,
  orderCount: (m) => m.orderCount,
  lastName: (m) => (m.lastName ?? '').toLowerCase(),
}
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)

/** The ids the hub must answer: filtered by the model, sorted by the field then the id, both in the direction. */
function expected(filter: (m: Model) => boolean, sort = 'createdAt:desc'): string[] {
  const [field, dir] = sort.split(':') as [Field, 'asc' | 'desc']
  const sign = dir === 'asc' ? 1 : -1
  return people
    .filter(filter)
    .sort((a, b) => sign * (cmp(sortValue[field](a), sortValue[field](b)) || cmp(a.id, b.id)))
    .map((m) => m.id)
}

async function ids(query: string): Promise<string[]> {
  const res = await call('GET', `/customer?limit=200&${query}`)
  expect(res.status, res.raw).toBe(200)
  expect(res.body.nextCursor).toBeNull()
  return res.body.data.map((c: { id: string }) => c.id)
}

/** Reads every page; checks page sizes and returns the ids in the order served. */
async function allPages(query: string, limit: number): Promise<string[]> {
  const out: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res: Res = await call('GET', `/customer?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    expect(res.status, res.raw).toBe(200)
    cursor = res.body.nextCursor
    if (cursor !== null) expect(res.body.data).toHaveLength(limit)
    else expect(res.body.data.length).toBeGreaterThan(0)
    out.push(...res.body.data.map((c: { id: string }) => c.id))
    expect(++pages).toBeLessThan(100)
  } while (cursor !== null)
  return out
}

describe('GET /customer', () => {
  it('lists every live customer with the figures their orders made, newest first by default', async () => {
    const res = await call('GET', '/customer?limit=200')
    expect(res.status).toBe(200)
    expect(res.body.data).toHaveLength(N - 2)
    const byId = new Map(res.body.data.map((c: Model) => [c.id, c]))
    for (const m of people) {
      expect(byId.get(m.id)).toMatchObject({
        email: m.email,
        firstName: m.firstName,
        lastName: m.lastName,
        phone: m.phone,
        groups: m.groups,
        orderCount: m.orderCount,
        totalSpent: m.totalSpent,
        hasAccount: m.hasAccount,
        createdAt: m.createdAt,
        currency: m.orderCount > 0 ? 'USD' : null,
      })
    }
    expect(res.body.data.map((c: Model) => c.id)).toEqual(expected(() => true))
    expect(await ids('sort=createdAt:desc')).toEqual(await ids(''))
    const firstPage = await call('GET', '/customer')
    expect(firstPage.body.data).toHaveLength(50) // the default limit
    expect(firstPage.body.nextCursor).toEqual(expect.any(String))
  })

  it('filters by group; repeated groups must all match', async () => {
    const vip = await ids('group=vip')
    expect(vip).toEqual(expected((m) => m.groups.includes('vip')))
    expect(vip.length).toBeGreaterThan(0)
    const both = await ids('group=vip&group=wholesale')
    expect(both).toEqual(expected((m) => m.groups.includes('vip') && m.groups.includes('wholesale')))
    expect(both.length).toBeGreaterThan(0)
    expect(both.length).toBeLessThan(vip.length)
    expect(await ids('group=b2b&group=vip&group=wholesale')).toEqual(expected((m) => ['b2b', 'vip', 'wholesale'].every((g) => m.groups.includes(g))))
    expect(await ids('group=nobody')).toEqual([])
  })

  it('filters by order count and amount spent', async () => {
    expect(await ids('minOrders=5')).toEqual(expected((m) => m.orderCount >= 5))
    expect(await ids('maxOrders=1')).toEqual(expected((m) => m.orderCount <= 1))
    expect(await ids('minOrders=2&maxOrders=3')).toEqual(expected((m) => m.orderCount >= 2 && m.orderCount <= 3))
    expect(await ids('minOrders=0')).toEqual(expected(() => true))
    expect(await ids('maxOrders=0')).toEqual(expected((m) => m.orderCount === 0))
    expect(await ids('minSpent=5000')).toEqual(expected((m) => m.totalSpent >= 5000))
    expect(await ids('minSpent=5000&maxOrders=3')).toEqual(expected((m) => m.totalSpent >= 5000 && m.orderCount <= 3))
    expect(await ids('minOrders=7')).toEqual([])
  })

  it('searches email, names and phone with q, case-insensitively and literally', async () => {
    const search = (m: Model) => [m.email, m.firstName ?? '', m.lastName ?? '', m.phone ?? ''].join(' ').toLowerCase()
    for (const q of ['doe', 'DOE', 'list-1', 'ann', '+12127361', 'shop.example', 'joanna smith', '  Zed  ']) {
      const found = await ids(`q=${encodeURIComponent(q)}`)
      expect(found, q).toEqual(expected((m) => search(m).includes(q.trim().toLowerCase())))
      expect(found.length, q).toBeGreaterThan(0)
    }
    // the trigrams every customer here has (list-, shop.example) are read off a sample of them and kept from the index
    const common = await createSearchStatistics().common(hub.database.db)
    expect(common.get('sho')).toBe(1)
    expect(common.has('zed')).toBe(false)
    // 'list-61' is looked up in the index by its uncommon end, and checked whole on what that finds
    expect(indexPart('list-61', common)).toBe('t-61')
    expect(await ids('q=list-61')).toEqual(expected((m) => search(m).includes('list-61')))
    // LIKE wildcards are searched for as characters, not as patterns
    expect(await ids('q=%25')).toEqual([])
    expect(await ids('q=_')).toEqual([])
    expect(await ids('q=list%5C')).toEqual([])
  })

  it('filters by email (normalized), account and creation time', async () => {
    const target = people[3]!
    expect(await ids(`email=${encodeURIComponent(`  ${target.email.toUpperCase()} `)}`)).toEqual([target.id])
    expect(await ids('email=absent@shop.example')).toEqual([])
    expect(await ids('hasAccount=true')).toEqual(expected((m) => m.hasAccount))
    expect(await ids('hasAccount=false')).toEqual(expected((m) => !m.hasAccount))
    expect((await ids('hasAccount=true')).length).toBeGreaterThan(0)
    const after = days[1]!
    const before = days[3]!
    expect(await ids(`createdAfter=${after}`)).toEqual(expected((m) => m.createdAt > after))
    expect(await ids(`createdBefore=${before}`)).toEqual(expected((m) => m.createdAt < before))
    expect(await ids(`createdAfter=${after}&createdBefore=${before}`)).toEqual(expected((m) => m.createdAt > after && m.createdAt < before))
    expect(await ids(`createdAfter=${encodeURIComponent('2024-01-02T09:00:00+09:00')}`)).toEqual(expected((m) => m.createdAt > days[1]!)) // the same instant, written in +09:00
  })

  it('combines filters with a sort', async () => {
    const query = 'group=vip&minOrders=2&hasAccount=false&sort=totalSpent:desc'
    expect(await ids(query)).toEqual(expected((m) => m.groups.includes('vip') && m.orderCount >= 2 && !m.hasAccount, 'totalSpent:desc'))
  })

  it("answers the document's example: group=vip&minOrders=5&sort=totalSpent:desc", async () => {
    const res = await call('GET', '/customer?group=vip&minOrders=5&sort=totalSpent:desc')
    expect(res.status).toBe(200)
    const want = expected((m) => m.groups.includes('vip') && m.orderCount >= 5, 'totalSpent:desc')
    expect(want.length).toBeGreaterThan(1)
    expect(res.body.data.map((c: Model) => c.id)).toEqual(want)
    const spent = res.body.data.map((c: Model) => c.totalSpent)
    expect(spent).toEqual([...spent].sort((a: number, b: number) => b - a))
    for (const c of res.body.data) {
      expect(c.groups).toContain('vip')
      expect(c.orderCount).toBeGreaterThanOrEqual(5)
    }
  })

  for (const field of ['createdAt', 'totalSpent', 'orderCount', 'lastName'] as const) {
    for (const dir of ['asc', 'desc'] as const) {
      const sort = `${field}:${dir}`
      it(`sorts by ${sort}, ties broken by id, and pages through it without repeats or gaps`, async () => {
        const want = expected(() => true, sort)
        const one = await ids(`sort=${sort}`)
        expect(one).toEqual(want)
        // the served values really are in order (independent of the model's arithmetic)
        const res = await call('GET', `/customer?limit=200&sort=${sort}`)
        const values = res.body.data.map((c: Model) => sortValue[field](c))
        for (let i = 1; i < values.length; i++) {
          const order = cmp(values[i - 1], values[i])
          expect(dir === 'asc' ? order <= 0 : order >= 0, `${sort} at ${i}`).toBe(true)
        }
        for (const limit of [7, 1, N]) {
          const paged = await allPages(`sort=${sort}`, limit)
          expect(paged).toEqual(want)
          expect(new Set(paged).size).toBe(paged.length)
        }
        // the same walk twice gives the same pages
        expect(await allPages(`sort=${sort}`, 9)).toEqual(await allPages(`sort=${sort}`, 9))
      })
    }
  }

  it('pages through a filtered list', async () => {
    const want = expected((m) => m.groups.includes('vip') && m.orderCount >= 1, 'totalSpent:desc')
    expect(want.length).toBeGreaterThan(6)
    expect(await allPages('group=vip&minOrders=1&sort=totalSpent:desc', 3)).toEqual(want)
    // minSpent in creation order is read band by band of the totals' decimal length, merged: totals
    // of three, four and five digits here, the smallest of three digits left out by the filter
    for (const sort of ['createdAt:desc', 'createdAt:asc']) {
      for (const [minSpent, also] of [[600, ''], [0, ''], [2500, '&group=vip'], [1000, '&maxOrders=3']] as const) {
        const wanted = expected((m) => m.totalSpent >= minSpent && (also !== '&group=vip' || m.groups.includes('vip')) && (also !== '&maxOrders=3' || m.orderCount <= 3), sort)
        expect(wanted.length, `${minSpent}${also}`).toBeGreaterThan(3)
        expect(await allPages(`minSpent=${minSpent}${also}&sort=${sort}`, 3), `${minSpent}${also} ${sort}`).toEqual(wanted)
      }
    }
    expect(new Set(people.map((m) => String(m.totalSpent).length)).size).toBeGreaterThan(2)
  })

  it('refuses bad list parameters with 400', async () => {
    const bad = [
      'limit=201',
      'limit=0',
      'limit=-1',
      'limit=abc',
      'limit=1.5',
      'sort=foo:asc',
      'sort=totalSpent',
      'sort=totalSpent:up',
      'sort=email:asc',
      'minOrders=-1',
      'minOrders=many',
      'maxOrders=1.5',
      'minSpent=-5',
      'hasAccount=maybe',
      'createdAfter=yesterday',
      'createdBefore=2024-13-45',
      'group=VIP',
      'group=',
      Array.from({ length: 11 }, (_, i) => `group=g${i}`).join('&'),
      'q=',
      `q=${'x'.repeat(201)}`,
      'unknown=1',
      `cursor=${'a'.repeat(501)}`,
    ]
    for (const query of bad) expectError(await call('GET', `/customer?${query}`), 400, 'VALIDATION_FAILED')
    expectError(await call('GET', '/customer?email=not-an-email'), 400, 'INVALID_EMAIL')
  })

  it('takes counts and amounts up to what the columns hold, and refuses larger ones with 400', async () => {
    // a bound beyond a 32-bit count (or a 64-bit amount) reached the database and answered 500
    expect(await ids('maxOrders=2147483647')).toEqual(expected(() => true))
    expect(await ids(`minSpent=${Number.MAX_SAFE_INTEGER}`)).toEqual([])
    for (const query of ['minOrders=2147483648', 'maxOrders=9007199254740990', `minSpent=${Number.MAX_SAFE_INTEGER + 1}`, 'minSpent=100000000000000000000', 'minOrders=1e308']) {
      expectError(await call('GET', `/customer?${query}`), 400, 'VALIDATION_FAILED')
    }
  })

  it('refuses a malformed cursor or one from another sort with 400 INVALID_CURSOR', async () => {
    const first = await call('GET', '/customer?limit=5&sort=totalSpent:desc')
    const cursor = first.body.nextCursor as string
    expect(cursor).toEqual(expect.any(String))
    expect((await call('GET', `/customer?limit=5&sort=totalSpent:desc&cursor=${encodeURIComponent(cursor)}`)).status).toBe(200)

    const craft = (c: unknown) => encodeURIComponent(Buffer.from(JSON.stringify(c)).toString('base64url'))
    const cases = [
      'sort=totalSpent:desc&cursor=garbage',
      'sort=totalSpent:desc&cursor=',
      `sort=totalSpent:asc&cursor=${encodeURIComponent(cursor)}`,
      `sort=orderCount:desc&cursor=${encodeURIComponent(cursor)}`,
      `cursor=${encodeURIComponent(cursor)}`, // the default sort is createdAt:desc
      `sort=totalSpent:desc&cursor=${encodeURIComponent(cursor.slice(0, -3))}`,
      `sort=totalSpent:desc&cursor=${craft({ s: 'totalSpent:desc', v: 'lots', id: 'cus_X' })}`,
      `sort=totalSpent:desc&cursor=${craft({ s: 'totalSpent:desc', v: '99999999999999999999999', id: 'cus_X' })}`,
      `sort=totalSpent:desc&cursor=${craft({ s: 'totalSpent:desc', v: 5, id: 'cus_X' })}`,
      `sort=totalSpent:desc&cursor=${craft({ s: 'totalSpent:desc', v: '5' })}`,
      `sort=totalSpent:desc&cursor=${craft(['totalSpent:desc', '5', 'cus_X'])}`,
      `sort=totalSpent:desc&cursor=${craft(null)}`,
      `sort=orderCount:asc&cursor=${craft({ s: 'orderCount:asc', v: '3000000000', id: 'cus_X' })}`,
      `sort=createdAt:desc&cursor=${craft({ s: 'createdAt:desc', v: 'not a time', id: 'cus_X' })}`,
    ]
    for (const query of cases) expectError(await call('GET', `/customer?limit=5&${query}`), 400, 'INVALID_CURSOR')
  })

  it('is for admins only', async () => {
    const platform = await hub.platform()
    expectError(await call('GET', '/customer', undefined, platform), 403, 'FORBIDDEN')
    expectError(await call('GET', '/customer', undefined, {}), 401, 'UNAUTHORIZED')
  })

  it('is unchanged by the list reads (no writes)', async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events`.execute(hub.database.db)
    await ids('group=vip&sort=lastName:asc')
    await allPages('sort=orderCount:desc', 11)
    const { rows: after } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events`.execute(hub.database.db)
    expect(after[0]!.n).toBe(rows[0]!.n)
  })
})
