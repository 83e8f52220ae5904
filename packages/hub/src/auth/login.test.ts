import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sql } from 'kysely'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'

const password = 'correct horse battery'
let seq = 0

async function register(hub: TestHub, email = `login${++seq}@example.com`): Promise<string> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  return email
}

function login(hub: TestHub, email: string, pw: string, remoteAddress = '127.0.0.1') {
  return hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw }, remoteAddress })
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

describe('wrong credentials', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
  })
  afterAll(async () => {
    await hub?.close()
  })

  test('an unknown email and a wrong password get the same 401 INVALID_CREDENTIALS body', async () => {
    const email = await register(hub)
    const unknown = await login(hub, `nobody${++seq}@example.com`, password)
    const wrong = await login(hub, email, 'not the password')
    expectError(unknown, 401, 'INVALID_CREDENTIALS')
    expectError(wrong, 401, 'INVALID_CREDENTIALS')
    expect(unknown.body).toBe(wrong.body)
    expect(unknown.headers['content-type']).toBe(wrong.headers['content-type'])
    // the right password still works
    expect((await login(hub, email, password)).statusCode).toBe(200)
  })

  test('a malformed login body is a 400, not a 401', async () => {
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: {} }), 400, 'VALIDATION_FAILED')
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@b.co', password: '' } }), 400, 'VALIDATION_FAILED')
    expectError(await hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@b.co', password: 'x', role: 'admin' } }), 400, 'VALIDATION_FAILED')
  })

  test('timing does not tell an unknown email from a wrong password', async () => {
    const email = await register(hub)
    // the first unknown-email login makes the dummy hash: not part of the measurement
    await login(hub, `warmup${++seq}@example.com`, password)
    await login(hub, email, 'warm up')
    const unknownTimes: number[] = []
    const wrongTimes: number[] = []
    for (let i = 0; i < 20; i++) {
      let t = performance.now()
      expect((await login(hub, `absent${i}-${++seq}@example.com`, 'not the password')).statusCode).toBe(401)
      unknownTimes.push(performance.now() - t)
      t = performance.now()
      expect((await login(hub, email, 'not the password')).statusCode).toBe(401)
      wrongTimes.push(performance.now() - t)
    }
    const ratio = median(unknownTimes) / median(wrongTimes)
    console.log(`login timing: median unknown email ${median(unknownTimes).toFixed(1)} ms, wrong password ${median(wrongTimes).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`)
    expect(ratio).toBeGreaterThan(1 / 3)
    expect(ratio).toBeLessThan(3)
  })
})

describe('login rate limits', () => {
  test('per email: the attempt past login_limit_per_email is 429 RATE_LIMITED with Retry-After', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 3 } })
    try {
      const email = await register(hub)
      for (let i = 0; i < 3; i++) expectError(await login(hub, email, 'wrong password', `10.0.0.${i + 1}`), 401, 'INVALID_CREDENTIALS')
      // the right password does not get past the limit, from any address
      const limited = await login(hub, email, password, '10.0.0.9')
      expectError(limited, 429, 'RATE_LIMITED')
      const retryAfter = limited.headers['retry-after']
      expect(retryAfter).toMatch(/^[1-9][0-9]*$/)
      expect(Number(retryAfter)).toBeLessThanOrEqual(hub.config.auth.loginWindow)
      // the limit is per email: another account is not limited
      const other = await register(hub)
      expect((await login(hub, other, password, '10.0.0.9')).statusCode).toBe(200)
      // the email is counted in its normal form
      expectError(await login(hub, ` ${email.toUpperCase()}`, password, '10.0.0.10'), 429, 'RATE_LIMITED')
      // once the window has passed, the account can log in again
      await sql`UPDATE rate_limits SET window_start = now() - make_interval(secs => ${hub.config.auth.loginWindow + 1})`.execute(hub.database.db)
      expect((await login(hub, email, password, '10.0.0.11')).statusCode).toBe(200)
      // the table keeps no email in the clear
      const { rows } = await sql<{ key: string }>`SELECT key FROM rate_limits`.execute(hub.database.db)
      expect(JSON.stringify(rows)).not.toContain(email)
    } finally {
      await hub.close()
    }
  })

  test('per client address: the attempt past login_limit_per_address is 429 RATE_LIMITED with Retry-After', async () => {
    const hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerAddress: 3 } })
    try {
      const email = await register(hub)
      for (let i = 0; i < 3; i++) expectError(await login(hub, `someone${i}-${++seq}@example.com`, 'whatever', '192.0.2.7'), 401, 'INVALID_CREDENTIALS')
      const limited = await login(hub, email, password, '192.0.2.7')
      expectError(limited, 429, 'RATE_LIMITED')
      expect(limited.headers['retry-after']).toMatch(/^[1-9][0-9]*$/)
      // another address is not limited
      expect((await login(hub, email, password, '192.0.2.8')).statusCode).toBe(200)
    } finally {
      await hub.close()
    }
  })
})
