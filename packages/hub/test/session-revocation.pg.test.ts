import { createHash, randomBytes, randomInt } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import pg from 'pg'
import type { Customer, Session } from '@his-her/contract'
import { createTestHub, testDatabaseUrl, type TestHub } from './helpers/test-hub.js'
import { expectError } from './helpers/requests.js'

// PostgreSQL only: a refresh is held in the middle of its transaction (a trigger on
// refresh_tokens waits for an advisory lock the test holds on a connection of its own) while a
// logout, a password reset or a reuse of an older token runs; then the refresh is let go.
let hub: TestHub
let seq = 0
const password = 'correct horse battery'
const pauseKey = randomInt(1, 2 ** 31 - 1)
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

beforeAll(async () => {
  hub = await createTestHub({ customer: { requireEmailVerification: false }, auth: { loginLimitPerEmail: 1000, loginLimitPerAddress: 1000 } })
  // every row inserted into refresh_tokens waits, inside its transaction, while the test holds pauseKey
  await sql.raw(`
    CREATE FUNCTION pause_refresh_token_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${pauseKey}); RETURN NULL; END $$`).execute(hub.database.db)
  await sql`CREATE TRIGGER pause_refresh_token_insert AFTER INSERT ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION pause_refresh_token_insert()`.execute(hub.database.db)
})
afterAll(async () => hub?.close())

type Answer = Awaited<ReturnType<TestHub['app']['inject']>>

async function register(): Promise<{ customer: Customer; email: string }> {
  const email = `revocation${++seq}@example.com`
  const res = await hub.app.inject({ method: 'POST', url: '/customer', headers: hub.admin, payload: { email, password } })
  expect(res.statusCode, res.body).toBe(201)
  return { customer: res.json<Customer>(), email }
}

const post = (url: string, payload: Record<string, unknown>): Promise<Answer> => hub.app.inject({ method: 'POST', url, payload })
const login = (email: string, pw = password) => post('/auth/login', { email, password: pw })
const refresh = (refreshToken: string) => post('/auth/refresh', { refreshToken })

/** A password-reset token of the customer, as the reset email would carry it. */
async function resetToken(customerId: string, email: string): Promise<string> {
  const token = `rst_${randomBytes(32).toString('base64url')}`
  await sql`
    INSERT INTO one_time_tokens (id, purpose, customer_id, email, token_hash, expires_at)
    VALUES (${`ott_${randomBytes(8).toString('hex')}`}, 'password_reset', ${customerId}, ${email}, ${sha256(token)}, now() + interval '10 minutes')`.execute(hub.database.db)
  return token
}

/** Holds every insert into refresh_tokens (in its transaction, before it commits) until `release()`. */
async function holdRefreshTokenInserts() {
  const client = new pg.Client({ connectionString: testDatabaseUrl })
  await client.connect()
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  await client.query('SELECT pg_advisory_lock($1)', [pauseKey])
  return {
    pid: rows[0]!.pid,
    async release() {
      await client.query('SELECT pg_advisory_unlock($1)', [pauseKey])
      await client.end()
    },
  }
}

/**
 * The backend that waits for a lock held by backend `pid`, once one does; undefined when
 * `request` finished first (it never had to wait).
 */
async function waitingOn(pid: number, request?: Promise<unknown>): Promise<number | undefined> {
  let settled = false
  void request?.finally(() => (settled = true))
  for (;;) {
    const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE ${pid}::int = ANY (pg_blocking_pids(pid))`.execute(hub.database.db)
    if (rows[0]) return rows[0].pid
    if (settled) return undefined
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/**
 * Starts a refresh and holds it after it used its token and stored the successor, before it
 * commits; runs `during` meanwhile (its request may wait on the refresh); then lets the
 * refresh commit. Answers the refresh's session and `during`'s answer.
 */
async function refreshWhile(refreshToken: string, during: () => Promise<Answer>): Promise<{ refreshed: Session; other: Answer }> {
  const held = await holdRefreshTokenInserts()
  const refreshing = refresh(refreshToken)
  const refresher = (await waitingOn(held.pid))!
  const other = during()
  await waitingOn(refresher, other)
  await held.release()
  const [refreshed, answer] = await Promise.all([refreshing, other])
  expect(refreshed.statusCode, `the refresh in flight went through: ${refreshed.body}`).toBe(200)
  return { refreshed: refreshed.json<Session>(), other: answer }
}

describe('a refresh in flight does not outlive a revocation', () => {
  it('logout: the successor of a refresh that ran beside the logout is refused', async () => {
    const { email } = await register()
    const session = (await login(email)).json<Session>()
    const { refreshed, other } = await refreshWhile(session.refreshToken, () => post('/auth/logout', { refreshToken: session.refreshToken }))
    expect(other.statusCode, other.body).toBe(200)
    expectError(await refresh(refreshed.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await refresh(session.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
  })

  it('password reset: the successor of a refresh that ran beside the reset is refused', async () => {
    const { customer, email } = await register()
    const session = (await login(email)).json<Session>()
    const token = await resetToken(customer.id, email)
    const newPassword = 'a brand new passphrase'
    const { refreshed, other } = await refreshWhile(session.refreshToken, () => post('/auth/password-reset', { token, password: newPassword }))
    expect(other.statusCode, other.body).toBe(200)
    expectError(await refresh(refreshed.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    expectError(await login(email), 401, 'INVALID_CREDENTIALS')
    // a session begun after the reset works
    const after = (await login(email, newPassword)).json<Session>()
    expect((await refresh(after.refreshToken)).statusCode).toBe(200)
  })

  it('reuse detection: the successor of a refresh that ran beside the reuse is refused', async () => {
    const { email } = await register()
    const first = (await login(email)).json<Session>()
    // the thief refreshed with the stolen token first; its next refresh runs while the owner presents the old token
    const stolen = (await refresh(first.refreshToken)).json<Session>()
    const { refreshed, other } = await refreshWhile(stolen.refreshToken, () => refresh(first.refreshToken))
    expectError(other, 401, 'REFRESH_TOKEN_REUSED')
    expectError(await refresh(refreshed.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
  })

  it("a seller's suspension: the successor of a refresh that ran beside it does not come back with the resume", async () => {
    const platform = await hub.platform()
    const handle = `revocation_seller_${++seq}`
    const onboarded = await hub.app.inject({
      method: 'POST', url: '/sellers/onboarding', headers: platform,
      payload: { seller: { id: `sel_${handle}`, handle, name: 'Brand' }, ownerMember: { id: `mem_${handle}` }, serviceAccount: { password, roleId: '3', organizationId: '12' } },
    })
    expect(onboarded.statusCode, onboarded.body).toBe(201)
    const email = onboarded.json<{ serviceAccount: { email: string } }>().serviceAccount.email
    const session = (await login(email)).json<Session>()
    const suspend = () => hub.app.inject({ method: 'POST', url: `/sellers/sel_${handle}/suspend`, headers: platform })
    const { refreshed, other } = await refreshWhile(session.refreshToken, suspend)
    expect(other.statusCode, other.body).toBe(200)
    const resumed = await hub.app.inject({ method: 'POST', url: `/sellers/sel_${handle}/resume`, headers: platform })
    expect(resumed.statusCode, resumed.body).toBe(200)
    expectError(await refresh(refreshed.refreshToken), 401, 'INVALID_REFRESH_TOKEN')
    const again = (await login(email)).json<Session>()
    expect((await refresh(again.refreshToken)).statusCode).toBe(200)
  })

  it('a login in flight during a password reset: its session began before the reset and is refused', async () => {
    const { customer, email } = await register()
    const token = await resetToken(customer.id, email)
    const held = await holdRefreshTokenInserts()
    // the login checked the old password and is storing its refresh token when the reset runs
    const loggingIn = login(email)
    const loginBackend = (await waitingOn(held.pid))!
    const reset = post('/auth/password-reset', { token, password: 'a brand new passphrase' })
    await waitingOn(loginBackend, reset)
    await held.release()
    const [loggedIn, done] = await Promise.all([loggingIn, reset])
    expect(done.statusCode, done.body).toBe(200)
    expect(loggedIn.statusCode, loggedIn.body).toBe(200)
    expectError(await refresh(loggedIn.json<Session>().refreshToken), 401, 'INVALID_REFRESH_TOKEN')
  })
})
