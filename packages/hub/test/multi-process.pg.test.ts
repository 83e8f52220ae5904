import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, testDatabaseUrl, urlWithSchema } from './helpers/test-hub.js'
import { builtMigrations, call, killAll, processTimeout, runCli, spawnHub, tempDir, type HubProcess } from './helpers/spawn-hub.js'

// Several hub processes share one PostgreSQL database; the embedded one is one process by design.
describe.skipIf(!onPostgres)('several hub processes on one PostgreSQL database', { timeout: processTimeout }, () => {
  const schema = `hubtest_${randomBytes(6).toString('hex')}`
  const maxAddresses = 3
  const tmp = tempDir()
  let client: pg.Client
  let env: Record<string, string>
  let hubs: HubProcess[]
  let admin: string
  const hub = (i: number) => hubs[i % hubs.length]!

  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => (await client.query<T>(text, values)).rows

  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl })
    await client.connect()
    await client.query(`CREATE SCHEMA "${schema}"`)
    await client.query(`SET search_path = "${schema}", public`)
    // every process of one database shares the secret
    env = { DATABASE_URL: urlWithSchema(schema), HUB_SECRET: randomBytes(32).toString('hex'), HUB_DB_POOL_SIZE: '5', HUB_CUSTOMER_MAX_ADDRESSES: String(maxAddresses) }
  })
  afterAll(async () => {
    await killAll()
    await client?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client?.end()
    tmp.remove()
  })

  it('three hubs started at once on an empty schema: migrations run once, one first-start token, all serve', async () => {
    hubs = await Promise.all([0, 1, 2].map(() => spawnHub({ cwd: tmp.dir, env })))

    const printed = hubs.map((h) => h.firstStartToken).filter((t): t is string => t !== undefined)
    expect(printed).toHaveLength(1)
    admin = printed[0]!
    // PostgreSQL mode writes no token file
    expect(hubs.every((h) => !h.stdout.some((l) => l.includes('also written to')))).toBe(true)

    const migrations = await query<{ name: string }>('SELECT name FROM hub_migrations ORDER BY name')
    expect(migrations.map((r) => r.name)).toEqual([...builtMigrations()].sort())
    const tokens = await query<{ name: string; role: string; bootstrap: boolean }>('SELECT name, role, bootstrap FROM api_tokens')
    expect(tokens).toEqual([{ name: 'admin', role: 'admin', bootstrap: true }])

    for (const h of hubs) {
      expect((await call(h.url, 'GET', '/health')).body).toEqual({ status: 'ok', database: 'up' })
      expect((await call(h.url, 'GET', '/customer', admin)).status).toBe(200)
    }
    expect(new Set(hubs.map((h) => h.url)).size).toBe(3)

    const migrate = await runCli(['migrate'], { cwd: tmp.dir, env })
    expect(migrate.code).toBe(0)
    expect(migrate.stdout.trim()).toBe('the database is up to date')
  })

  it('a token made with the command while the hubs run works on every hub; revoked, a hub that checks it refuses it', async () => {
    const created = await runCli(['token', 'create', '--role', 'platform', '--name', 'shop'], { cwd: tmp.dir, env })
    expect(created.code).toBe(0)
    const platform = created.stdout.trim()
    const email = () => `platform.${randomBytes(4).toString('hex')}@example.com`
    // hubs 0 and 1 see the token; hub 2 is kept for after the revocation
    for (const h of hubs.slice(0, 2)) expect((await call(h.url, 'POST', '/customer', platform, { email: email() })).status).toBe(201)
    expect((await runCli(['token', 'revoke', 'shop'], { cwd: tmp.dir, env })).code).toBe(0)
    // a process may remember a token it checked for a few seconds; one that had not seen it refuses it at once
    const refused = await call(hub(2).url, 'POST', '/customer', platform, { email: email() })
    expect(refused.status).toBe(401)
    expect(refused.body.code).toBe('UNAUTHORIZED')
    const listed = await runCli(['token', 'list'], { cwd: tmp.dir, env })
    expect(listed.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual(['admin'])
  })

  it('staff users: one created concurrently through every process exists once; signed in on one hub, disabled through another, its token stops on every hub at once', async () => {
    const email = `agent.${randomBytes(4).toString('hex')}@staff.example.com`
    const password = 'a staff passphrase'
    const made = await Promise.all(Array.from({ length: 9 }, (_, i) => call(hub(i).url, 'POST', '/staff', admin, { email: i % 2 ? email.toUpperCase() : email, password, role: 'support' })))
    expect(made.filter((a) => a.status === 201)).toHaveLength(1)
    expect(made.filter((a) => a.status === 409 && a.body.code === 'STAFF_USER_TAKEN')).toHaveLength(8)
    expect(await query('SELECT id FROM staff_users WHERE email = $1', [email])).toHaveLength(1)
    const id = made.find((a) => a.status === 201)!.body.id as string

    const login = await call(hub(0).url, 'POST', '/auth/staff/login', undefined, { email, password })
    expect(login.status).toBe(200)
    const token = login.body.accessToken as string
    for (const h of hubs) expect((await call(h.url, 'GET', '/customer?limit=1', token)).status).toBe(200)
    expect((await call(hub(1).url, 'PATCH', `/staff/${id}`, admin, { role: 'admin' })).status).toBe(200)
    for (const h of hubs) expect((await call(h.url, 'GET', '/tokens', token)).status).toBe(200)
    expect((await call(hub(1).url, 'DELETE', `/staff/${id}`, admin)).status).toBe(200)
    for (const h of hubs) {
      const refused = await call(h.url, 'GET', '/customer?limit=1', token)
      expect(refused.status).toBe(401)
      expect(refused.body.code).toBe('UNAUTHORIZED')
    }
    expect((await call(hub(2).url, 'POST', '/auth/refresh', undefined, { refreshToken: login.body.refreshToken })).status).toBe(401)
  })

  it('the same email created concurrently through different processes: one 201, the rest 409 EMAIL_TAKEN, one row', async () => {
    const email = `same.${randomBytes(4).toString('hex')}@example.com`
    const spellings = [email, email.toUpperCase(), ` ${email} `]
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, i) => call(hub(i).url, 'POST', '/customer', admin, { email: spellings[i % spellings.length], firstName: `n${i}` })),
    )
    const created = answers.filter((a) => a.status === 201)
    expect(created).toHaveLength(1)
    expect(created[0]!.body.email).toBe(email)
    const refused = answers.filter((a) => a.status !== 201)
    expect(refused).toHaveLength(14)
    for (const a of refused) {
      expect(a.status).toBe(409)
      expect(a.body).toMatchObject({ statusCode: 409, code: 'EMAIL_TAKEN', error: 'Conflict' })
      expect(typeof a.body.message).toBe('string')
    }
    const rows = await query<{ id: string }>('SELECT id FROM customers WHERE email = $1', [email])
    expect(rows).toEqual([{ id: created[0]!.body.id }])
    const identities = await query<{ customer_id: string }>(`SELECT customer_id FROM identities WHERE kind = 'email' AND value = $1`, [email])
    expect(identities).toEqual([{ customer_id: created[0]!.body.id }])
    const events = await query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE type = 'customer.created' AND customer_id = $1`, [created[0]!.body.id])
    expect(events).toEqual([{ n: '1' }])
  })

  it('concurrent address and group changes for one customer through different processes keep the invariants', async () => {
    const customer = await call(hub(0).url, 'POST', '/customer', admin, { email: `addr.${randomBytes(4).toString('hex')}@example.com` })
    expect(customer.status).toBe(201)
    const id: string = customer.body.id
    const address = (i: number) => ({ line1: `${i} Main St`, city: 'Springfield', country: 'US', isDefault: i % 2 === 0 })

    const invariants = async () => {
      const addresses = await query<{ id: string; is_default: boolean }>('SELECT id, is_default FROM addresses WHERE customer_id = $1', [id])
      const [row] = await query<{ address_count: number; groups: string[] }>('SELECT address_count, groups FROM customers WHERE id = $1', [id])
      expect(addresses.length).toBeLessThanOrEqual(maxAddresses)
      expect(row!.address_count).toBe(addresses.length)
      if (addresses.length > 0) expect(addresses.filter((a) => a.is_default)).toHaveLength(1)
      expect(new Set(row!.groups).size).toBe(row!.groups.length)
      const read = await call(hub(1).url, 'GET', `/customer/${id}`, admin)
      expect(read.body.addresses.map((a: { id: string }) => a.id).sort()).toEqual(addresses.map((a) => a.id).sort())
      return { addresses, groups: [...row!.groups].sort() }
    }

    // adds, past the limit
    const adds = await Promise.all(Array.from({ length: 9 }, (_, i) => call(hub(i).url, 'POST', `/customer/${id}/address`, admin, address(i))))
    expect(adds.filter((a) => a.status === 201)).toHaveLength(maxAddresses)
    for (const a of adds.filter((x) => x.status !== 201)) expect(a.body).toMatchObject({ statusCode: 422, code: 'ADDRESS_LIMIT_REACHED' })
    const afterAdds = await invariants()
    expect(afterAdds.addresses).toHaveLength(maxAddresses)

    // default switches and group changes at once, through all processes
    const ids = afterAdds.addresses.map((a) => a.id)
    const mixed = await Promise.all([
      ...ids.flatMap((addressId, i) => [0, 1, 2].map((k) => call(hub(i + k).url, 'PATCH', `/customer/${id}/address/${addressId}`, admin, { isDefault: true }))),
      ...['vip', 'b2b', 'wholesale'].flatMap((group, i) => [0, 1, 2].map((k) => call(hub(i + k).url, 'POST', `/customer/${id}/group`, admin, { group }))),
    ])
    for (const a of mixed) expect(a.status).toBe(200)
    expect((await invariants()).groups).toEqual(['b2b', 'vip', 'wholesale'])
    const groupEvents = await query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE type = 'customer.group_added' AND customer_id = $1`, [id])
    expect(groupEvents).toEqual([{ n: '3' }]) // adding a group it already has changes nothing

    // remove the default from three processes at once while adding and removing groups
    const [current] = await query<{ id: string }>('SELECT id FROM addresses WHERE customer_id = $1 AND is_default', [id])
    const second = await Promise.all([
      ...[0, 1, 2].map((k) => call(hub(k).url, 'DELETE', `/customer/${id}/address/${current!.id}`, admin)),
      ...[0, 1, 2].map((k) => call(hub(k).url, 'DELETE', `/customer/${id}/group/vip`, admin)),
      ...[0, 1, 2].map((k) => call(hub(k).url, 'POST', `/customer/${id}/group`, admin, { group: 'new' })),
    ])
    const deletes = second.slice(0, 3)
    expect(deletes.filter((a) => a.status === 200)).toHaveLength(1)
    for (const a of deletes.filter((x) => x.status !== 200)) expect(a.body).toMatchObject({ statusCode: 404, code: 'ADDRESS_NOT_FOUND' })
    for (const a of second.slice(3)) expect(a.status).toBe(200)
    const afterRemove = await invariants()
    expect(afterRemove.addresses).toHaveLength(maxAddresses - 1)
    expect(afterRemove.addresses.map((a) => a.id)).not.toContain(current!.id)
    expect(afterRemove.groups).toEqual(['b2b', 'new', 'wholesale'])

    // the freed place goes to exactly one of several concurrent adds
    const refill = await Promise.all(Array.from({ length: 6 }, (_, i) => call(hub(i).url, 'POST', `/customer/${id}/address`, admin, address(i + 100))))
    expect(refill.filter((a) => a.status === 201)).toHaveLength(1)
    expect(refill.filter((a) => a.status === 422)).toHaveLength(5)
    expect((await invariants()).addresses).toHaveLength(maxAddresses)
  })

  it('every hub still serves and none logged a 5xx', async () => {
    for (const h of hubs) {
      expect(h.child.exitCode).toBeNull()
      const fives = h.stdout.filter((l) => /"statusCode":5\d\d/.test(l))
      expect(fives).toEqual([])
    }
    const stops = await Promise.all(hubs.map((h) => h.stop()))
    expect(stops).toEqual([0, 1, 2].map(() => ({ code: 0, signal: null })))
  })
})
