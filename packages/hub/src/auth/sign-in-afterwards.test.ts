import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest'
import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Session } from '@his-her/contract'
import { createTestHub, type TestHub } from '../../test/helpers/test-hub.js'
import { expectError } from '../../test/helpers/requests.js'

// A sign-in stores its session while the password hash runs and gives its attempt back after its
// answer. These tests hold each of those steps to see what another request meets meanwhile.

// Every 32 random bytes the hub draws (a refresh token is `rft_` and 32 of them), and every password
// verification, which a test may hold until something happened.
const seen = vi.hoisted(() => ({ random32: [] as Buffer[], verified: 0, hold: undefined as (() => Promise<void>) | undefined }))
vi.mock('node:crypto', async (original) => {
  const real = await original<typeof import('node:crypto')>()
  const randomBytes = ((size: number, ...rest: unknown[]) => {
    const bytes = (real.randomBytes as (n: number, ...r: unknown[]) => Buffer)(size, ...rest)
    if (size === 32 && rest.length === 0) seen.random32.push(bytes)
    return bytes
  }) as typeof real.randomBytes
  return { ...real, default: { ...real, randomBytes }, randomBytes }
})
vi.mock('./passwords.js', async (original) => {
  const real = await original<typeof import('./passwords.js')>()
  return {
    ...real,
    verifyPassword: async (phc: string, password: string) => {
      seen.verified++
      await seen.hold?.()
      return real.verifyPassword(phc, password)
    },
  }
})

const password = 'correct horse battery'
let seq = 0
const keyOf = (key: string) => createHash('sha256').update(key).digest('base64url')

async function register(hub: TestHub, email = `afterwards${++seq}@example.com`): Promise<{ id: string; email: string }> {
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  return { id: res.json<{ id: string }>().id, email }
}

const login = (hub: TestHub, email: string, pw: string, remoteAddress = '192.0.2.1') =>
  hub.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: pw }, remoteAddress })
const refresh = (hub: TestHub, refreshToken: string) => hub.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } })

async function familiesOf(hub: TestHub, subjectId: string) {
  const { rows } = await sql<{ id: string; pending: boolean; tokens: number }>`
    SELECT f.id, f.pending_until IS NOT NULL AS pending, (SELECT count(*)::int FROM refresh_tokens t WHERE t.family_id = f.id) AS tokens
    FROM refresh_families f WHERE f.subject_id = ${subjectId} ORDER BY f.created_at`.execute(hub.database.db)
  return rows
}

/** Resolves once `subjectId` has a family stored (the sign-in in flight stored its session). */
async function familyStored(hub: TestHub, subjectId: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await familiesOf(hub, subjectId)).length > 0) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('no family was stored')
}

describe('a sign-in stores its session while the password is verified', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false } })
  })
  afterAll(() => hub.close())
  beforeEach(() => {
    seen.hold = undefined
    seen.random32.length = 0
  })

  test('a wrong password leaves no usable session: every token the attempt drew is refused, and its family is deleted after the answer', async () => {
    const { id, email } = await register(hub)
    // the hash ends only once the session of the attempt is stored: the attempt made a family and a refresh token
    seen.hold = () => familyStored(hub, id)
    seen.random32.length = 0
    expectError(await login(hub, email, 'not the password'), 401, 'INVALID_CREDENTIALS')
    seen.hold = undefined
    expect(seen.random32.length).toBeGreaterThan(0)
    await hub.app.services.sessions.settled()
    expect(await familiesOf(hub, id)).toEqual([])
    for (const bytes of seen.random32) expectError(await refresh(hub, `rft_${bytes.toString('base64url')}`), 401, 'INVALID_REFRESH_TOKEN')
    // the right password answers a session that works
    const session = (await login(hub, email, password)).json<Session>()
    expect((await refresh(hub, session.refreshToken)).statusCode).toBe(200)
  })

  test('the session is confirmed after the answer; one its sign-in never confirmed is refused after its minute, one within it is confirmed by its first refresh', async () => {
    const { id, email } = await register(hub)
    const first = (await login(hub, email, password)).json<Session>()
    await hub.app.services.sessions.settled()
    expect(await familiesOf(hub, id)).toEqual([expect.objectContaining({ pending: false, tokens: 1 })])

    // as if the process had died after storing the session and before confirming it, a minute ago
    await sql`UPDATE refresh_families SET pending_until = now() - interval '1 second' WHERE subject_id = ${id}`.execute(hub.database.db)
    expectError(await refresh(hub, first.refreshToken), 401, 'INVALID_REFRESH_TOKEN')

    // the confirmation not landed yet, within the minute: the token was handed out, its refresh works and confirms the family
    const second = (await login(hub, email, password)).json<Session>()
    await hub.app.services.sessions.settled()
    const family = (await familiesOf(hub, id)).at(-1)!
    await sql`UPDATE refresh_families SET pending_until = now() + interval '30 seconds' WHERE id = ${family.id}`.execute(hub.database.db)
    const rotated = await refresh(hub, second.refreshToken)
    expect(rotated.statusCode, rotated.body).toBe(200)
    expect((await familiesOf(hub, id)).at(-1)).toEqual({ id: family.id, pending: false, tokens: 2 })

    // the hourly sweep takes the lapsed family and its token away; the confirmed one stays
    expect(await hub.app.services.sessions.sweepLapsed(hub.database.db)).toBeGreaterThanOrEqual(1)
    expect(await familiesOf(hub, id)).toEqual([{ id: family.id, pending: false, tokens: 2 }])
    expect((await refresh(hub, (await rotated.json<Session>()).refreshToken)).statusCode).toBe(200)
  })

  test('the right password of an unverified account stores no session', async () => {
    const strict = await createTestHub({ customer: { requireEmailVerification: true } })
    try {
      const res = await strict.app.inject({ method: 'POST', url: '/customer', headers: strict.admin, payload: { email: `unverified${++seq}@example.com`, password } })
      expect(res.statusCode, res.body).toBe(201)
      const { id, email } = res.json<{ id: string; email: string }>()
      expectError(await login(strict, email, password), 403, 'EMAIL_NOT_VERIFIED')
      await strict.app.services.sessions.settled()
      expect(await familiesOf(strict, id)).toEqual([])
      // the right password was given back: nothing stays counted for the address
      const { rows } = await sql<{ hits: number }>`SELECT hits FROM rate_limits WHERE key = ${keyOf('login:address:192.0.2.1')}`.execute(strict.database.db)
      expect(rows.map((r) => r.hits)).toEqual([0])
    } finally {
      await strict.close()
    }
  })
})

describe('the attempt is given back after the answer, and the limits stay exact in the process', () => {
  let hub: TestHub
  beforeAll(async () => {
    hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginBackoffAfter: 3, loginLimitPerAddress: 4 } })
  })
  afterAll(() => hub.close())

  /** Makes every give-back wait `ms` before it runs; answers when each give-back was done. */
  function slowGiveBacks(ms: number) {
    const limiter = hub.app.services.limiter
    const original = limiter.signInSucceeded
    const done: number[] = []
    const spy = vi.spyOn(limiter, 'signInSucceeded').mockImplementation(async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, ms))
      await original(...args)
      done.push(performance.now())
    })
    return { done, restore: () => spy.mockRestore() }
  }

  test('the next attempt of the same email at the same address waits for the give-back: a success resets the backoff before it is counted', async () => {
    const { email } = await register(hub)
    const from = '198.51.100.10'
    for (let i = 0; i < 2; i++) expectError(await login(hub, email, `typo ${i}`, from), 401, 'INVALID_CREDENTIALS')
    const slow = slowGiveBacks(300)
    try {
      const ok = await login(hub, email, password, from)
      expect(ok.statusCode).toBe(200)
      const answered = performance.now()
      expect(slow.done).toHaveLength(0) // answered before its give-back
      // were it counted before the give-back, it would be the third failure in a row, and the one after it held
      expectError(await login(hub, email, 'typo again', from), 401, 'INVALID_CREDENTIALS')
      expect(slow.done).toHaveLength(1)
      expect(slow.done[0]!).toBeGreaterThan(answered)
      expectError(await login(hub, email, 'and again', from), 401, 'INVALID_CREDENTIALS')
    } finally {
      slow.restore()
    }
    await hub.app.services.sessions.settled()
  })

  test('an attempt of another email from the address is refused by the count of a give-back in flight only until that give-back is done', async () => {
    const from = '198.51.100.11'
    const { email } = await register(hub)
    // three failures from the address, over other emails: one below its limit of 4
    for (let i = 0; i < 3; i++) expectError(await login(hub, `nobody${++seq}@example.com`, 'whatever', from), 401, 'INVALID_CREDENTIALS')
    const slow = slowGiveBacks(300)
    try {
      expect((await login(hub, email, password, from)).statusCode).toBe(200)
      // counted at once, it meets 4 hits (the success not given back yet): refused, then counted again after the give-back
      const before = seen.verified
      expectError(await login(hub, `someone${++seq}@example.com`, 'whatever', from), 401, 'INVALID_CREDENTIALS')
      expect(slow.done).toHaveLength(1)
      expect(seen.verified).toBe(before + 1)
      // now the address is at its limit: refused, with no hash
      expectError(await login(hub, `someone${++seq}@example.com`, 'whatever', from), 429, 'RATE_LIMITED')
      expect(seen.verified).toBe(before + 1)
    } finally {
      slow.restore()
    }
    await hub.app.services.sessions.settled()
    const { rows } = await sql<{ hits: number }>`SELECT hits FROM rate_limits WHERE key = ${keyOf(`login:address:${from}`)}`.execute(hub.database.db)
    expect(rows.map((r) => r.hits)).toEqual([4])
  })

  test('concurrent wrong guesses over many emails from one address: exactly the limit get a hash, the rest are refused before any and count nowhere', async () => {
    const from = '198.51.100.12'
    const before = seen.verified
    const answers = await Promise.all(Array.from({ length: 12 }, () => login(hub, `crowd${++seq}@example.com`, 'whatever', from)))
    const statuses = answers.map((a) => a.statusCode)
    expect(statuses.filter((s) => s === 401)).toHaveLength(4)
    expect(statuses.filter((s) => s === 429)).toHaveLength(8)
    expect(seen.verified - before).toBe(4)
    const { rows } = await sql<{ hits: number }>`SELECT hits FROM rate_limits WHERE key = ${keyOf(`login:address:${from}`)}`.execute(hub.database.db)
    expect(rows.map((r) => r.hits)).toEqual([4])
  })
})
