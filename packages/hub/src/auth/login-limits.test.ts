import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'

// Every password verification (argon2id) the hub runs, counted (the real function still does the work).
const verified = vi.hoisted(() => ({ count: 0 }))
vi.mock('./passwords.js', async (original) => {
  const real = await original<typeof import('./passwords.js')>()
  return { ...real, verifyPassword: async (phc: string, password: string) => (verified.count++, real.verifyPassword(phc, password)) }
})

const password = 'correct horse battery'
let seq = 0

async function register(hub: TestHub, email = `limits${++seq}@example.com`): Promise<string> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  return email
}

function login(hub: TestHub, email: string, pw: string, remoteAddress: string, headers: Record<string, string> = {}) {
  return hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw }, remoteAddress, headers })
}

/** Moves every sign-in record `seconds` into the past, as if that much time had gone by. */
async function age(hub: TestHub, seconds: number): Promise<void> {
  await sql`UPDATE rate_limits SET window_start = window_start - make_interval(secs => ${seconds})`.execute(hub.database.db)
}

// The sign-in limit used to count every attempt, successes included, per email from any
// address: ten requests from anywhere locked a customer (or a seller's service account) out.
describe('sign-in limits cannot lock the real user out', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false } })
  })
  afterAll(() => hub.close())

  test('twelve successful sign-ins in a row, of a customer and of a service account, are all 200', async () => {
    const email = await register(hub)
    for (let i = 0; i < 12; i++) expect((await login(hub, email, password, '198.51.100.1')).statusCode).toBe(200)
    const svc = await hub.app.inject({ method: 'POST', url: '/service-accounts', headers: hub.admin, payload: { handle: `seller-${++seq}`, password, roleId: 'seller', organizationId: 'org_1' } })
    expect(svc.statusCode, svc.body).toBe(201)
    const serviceEmail = svc.json<{ email: string }>().email
    for (let i = 0; i < 12; i++) expect((await login(hub, serviceEmail, password, '198.51.100.1')).statusCode).toBe(200)
  })

  test('failures from one address do not lock the account out at another address', async () => {
    const email = await register(hub)
    const attacker = '203.0.113.66'
    for (let i = 0; i < hub.config.auth.loginBackoffAfter; i++) expectError(await login(hub, email, `guess ${i}`, attacker), 401, 'INVALID_CREDENTIALS')
    // the attacker's address now waits, even with the right password…
    expectError(await login(hub, email, password, attacker), 429, 'RATE_LIMITED')
    for (let i = 0; i < 20; i++) expectError(await login(hub, email, `guess more ${i}`, attacker), 429, 'RATE_LIMITED')
    // …and the customer signs in from its own address
    expect((await login(hub, email, password, '198.51.100.2')).statusCode).toBe(200)
    // and the attacker's address is held for this email only
    expect((await login(hub, await register(hub), password, attacker)).statusCode).toBe(200)
  })

  test('the wait grows with every failure after it, and a held attempt costs no password hash', async () => {
    const email = await register(hub)
    const from = '203.0.113.70'
    const { loginBackoffAfter: after, loginBackoff: base } = hub.config.auth
    for (let i = 0; i < after; i++) expectError(await login(hub, email, `guess ${i}`, from), 401, 'INVALID_CREDENTIALS')
    const before = verified.count
    const first = await login(hub, email, password, from)
    expectError(first, 429, 'RATE_LIMITED')
    expect(verified.count).toBe(before)
    const firstWait = Number(first.headers['retry-after'])
    expect(firstWait).toBeGreaterThan(base - 5)
    expect(firstWait).toBeLessThanOrEqual(base)

    // the wait has passed: one more failure, and the next wait is twice as long
    await age(hub, base)
    expectError(await login(hub, email, 'guess again', from), 401, 'INVALID_CREDENTIALS')
    const second = await login(hub, email, password, from)
    expectError(second, 429, 'RATE_LIMITED')
    const secondWait = Number(second.headers['retry-after'])
    expect(secondWait).toBeGreaterThan(2 * base - 5)
    expect(secondWait).toBeLessThanOrEqual(2 * base)

    await age(hub, 2 * base)
    expectError(await login(hub, email, 'and again', from), 401, 'INVALID_CREDENTIALS')
    const third = await login(hub, email, password, from)
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(4 * base - 5)

    // once the wait is over, the right password works and starts the count afresh
    await age(hub, 4 * base)
    expect((await login(hub, email, password, from)).statusCode).toBe(200)
    for (let i = 0; i < after; i++) expectError(await login(hub, email, `fresh ${i}`, from), 401, 'INVALID_CREDENTIALS')
  })

  test('a success resets the count of its address', async () => {
    const email = await register(hub)
    const from = '203.0.113.71'
    const { loginBackoffAfter: after } = hub.config.auth
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < after - 1; i++) expectError(await login(hub, email, `typo ${round}.${i}`, from), 401, 'INVALID_CREDENTIALS')
      expect((await login(hub, email, password, from)).statusCode).toBe(200)
    }
  })

  test('concurrent wrong guesses from one address get no more tries than one after another', async () => {
    const email = await register(hub)
    const from = '203.0.113.72'
    const after = hub.config.auth.loginBackoffAfter
    const answers = await Promise.all(Array.from({ length: after + 10 }, (_, i) => login(hub, email, `parallel ${i}`, from)))
    const statuses = answers.map((a) => a.statusCode)
    expect(statuses.filter((s) => s === 401)).toHaveLength(after)
    expect(statuses.filter((s) => s === 429)).toHaveLength(10)
  })

  // each sign-in counts its attempt on three rows and gives it back on the same three when the
  // password is right: both statements lock them in one order, or two sign-ins of one account
  // from one address deadlock (on PostgreSQL, where they run side by side)
  test('as many sign-ins of one account from one address at once as the backoff lets through, one with a wrong password: all answer, only the failure stays counted', async () => {
    const email = await register(hub)
    const from = '203.0.113.73'
    // attempts in flight count as failures until their password is found right: more at once than loginBackoffAfter would be 429
    const n = hub.config.auth.loginBackoffAfter
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => login(hub, email, i === 0 ? 'wrong' : password, from)))
    const statuses = answers.map((a) => a.statusCode).sort()
    expect(statuses).toEqual([...Array(n - 1).fill(200), 401])
    // what stays counted for the address, once the successes' give-backs (made after their answers) are done: the one failure
    await hub.app.services.sessions.settled()
    const address = (await sql<{ hits: number }>`SELECT hits FROM rate_limits WHERE key = ${createHash('sha256').update(`login:address:${from}`).digest('base64url')}`.execute(hub.database.db)).rows
    expect(address.map((r) => r.hits)).toEqual([1])
  })
})

describe('limits across addresses and emails', () => {
  test('failures from one address over all emails: past login_limit_per_address it is 429 for any email from there', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerAddress: 3 } })
    try {
      const email = await register(hub)
      // successes do not count
      for (let i = 0; i < 5; i++) expect((await login(hub, email, password, '192.0.2.7')).statusCode).toBe(200)
      for (let i = 0; i < 3; i++) expectError(await login(hub, `someone${i}-${++seq}@example.com`, 'whatever', '192.0.2.7'), 401, 'INVALID_CREDENTIALS')
      const limited = await login(hub, email, password, '192.0.2.7')
      expectError(limited, 429, 'RATE_LIMITED')
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(hub.config.auth.loginWindow)
      expect((await login(hub, email, password, '192.0.2.8')).statusCode).toBe(200)
      await age(hub, hub.config.auth.loginWindow)
      expect((await login(hub, email, password, '192.0.2.7')).statusCode).toBe(200)
    } finally {
      await hub.close()
    }
  })

  test('past login_failures_per_email, an address waits after its first failure; one without failures still signs in', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginFailuresPerEmail: 6 } })
    try {
      const email = await register(hub)
      // many addresses, two guesses each: below the per-address wait, past the email's ceiling
      for (let i = 1; i <= 3; i++) {
        for (let j = 0; j < 2; j++) expectError(await login(hub, email, `spread ${i}.${j}`, `10.1.0.${i}`), 401, 'INVALID_CREDENTIALS')
      }
      // a new address gets one guess, then waits
      expectError(await login(hub, email, 'one more', '10.1.0.50'), 401, 'INVALID_CREDENTIALS')
      expectError(await login(hub, email, password, '10.1.0.50'), 429, 'RATE_LIMITED')
      // the customer, at an address with no failures, signs in
      expect((await login(hub, email, password, '10.1.0.99')).statusCode).toBe(200)
      // the ceiling is per email
      const other = await register(hub)
      for (let j = 0; j < 2; j++) expectError(await login(hub, other, `other ${j}`, '10.1.0.51'), 401, 'INVALID_CREDENTIALS')
      // the table keeps no email or address in the clear
      const { rows } = await sql<{ key: string }>`SELECT key FROM rate_limits`.execute(hub.database.db)
      expect(JSON.stringify(rows)).not.toContain(email)
      expect(JSON.stringify(rows)).not.toContain('10.1.0.50')
    } finally {
      await hub.close()
    }
  })

  test('the email is counted in its normal form', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false } })
    try {
      const email = await register(hub)
      const after = hub.config.auth.loginBackoffAfter
      for (let i = 0; i < after; i++) expectError(await login(hub, i % 2 ? ` ${email.toUpperCase()}` : email, `guess ${i}`, '10.2.0.1'), 401, 'INVALID_CREDENTIALS')
      expectError(await login(hub, email, password, '10.2.0.1'), 429, 'RATE_LIMITED')
    } finally {
      await hub.close()
    }
  })
})

describe('client address behind a proxy (trust_proxy)', () => {
  const forwarded = (ip: string) => ({ 'x-forwarded-for': ip })

  test('by default X-Forwarded-For is ignored: the connection\'s address is the client', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false } })
    try {
      const email = await register(hub)
      const after = hub.config.auth.loginBackoffAfter
      for (let i = 0; i < after; i++) expectError(await login(hub, email, `guess ${i}`, '10.9.0.1', forwarded(`198.18.0.${i + 1}`)), 401, 'INVALID_CREDENTIALS')
      // a new X-Forwarded-For does not make a new client
      expectError(await login(hub, email, password, '10.9.0.1', forwarded('198.18.1.1')), 429, 'RATE_LIMITED')
    } finally {
      await hub.close()
    }
  })

  test('with the proxy trusted, the address in X-Forwarded-For is the client', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, http: { trustProxy: ['10.9.0.0/16'] } })
    try {
      const email = await register(hub)
      const after = hub.config.auth.loginBackoffAfter
      for (let i = 0; i < after; i++) expectError(await login(hub, email, `guess ${i}`, '10.9.0.1', forwarded('198.18.0.1')), 401, 'INVALID_CREDENTIALS')
      expectError(await login(hub, email, password, '10.9.0.1', forwarded('198.18.0.1')), 429, 'RATE_LIMITED')
      // another client behind the same proxy is not held
      expect((await login(hub, email, password, '10.9.0.1', forwarded('198.18.0.2'))).statusCode).toBe(200)
      // a connection from outside the trusted range is its own client, whatever it forwards
      for (let i = 0; i < after; i++) expectError(await login(hub, email, `spoof ${i}`, '192.0.2.200', forwarded(`198.18.2.${i}`)), 401, 'INVALID_CREDENTIALS')
      expectError(await login(hub, email, password, '192.0.2.200', forwarded('198.18.3.1')), 429, 'RATE_LIMITED')
    } finally {
      await hub.close()
    }
  })

  test('with a hop count, the address that many hops back is the client', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, http: { trustProxy: 1 } })
    try {
      const email = await register(hub)
      const after = hub.config.auth.loginBackoffAfter
      for (let i = 0; i < after; i++) expectError(await login(hub, email, `guess ${i}`, '10.9.0.1', forwarded('198.18.0.1')), 401, 'INVALID_CREDENTIALS')
      expectError(await login(hub, email, password, '10.9.0.2', forwarded('198.18.0.1')), 429, 'RATE_LIMITED')
      // one hop only: what the client itself put in front is not believed
      expect((await login(hub, email, password, '10.9.0.1', forwarded('198.18.0.1, 198.18.0.2'))).statusCode).toBe(200)
    } finally {
      await hub.close()
    }
  })
})
