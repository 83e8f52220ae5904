import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { builtMigrations, call, copyMigratedDataDir, killAll, processTimeout, runCli, spawnHub, tempDir } from './helpers/spawn-hub.js'

let tmp: ReturnType<typeof tempDir>
let dataDir: string
let env: Record<string, string>

beforeEach(() => {
  tmp = tempDir()
  dataDir = join(tmp.dir, 'data')
  env = { HUB_DATA_DIR: dataDir }
})
afterEach(async () => {
  await killAll()
  tmp.remove()
})

const cli = (...args: string[]) => runCli(args, { cwd: tmp.dir, env })
/** Starts the test on a migrated data directory (no hub has started on it yet). */
const migrated = () => copyMigratedDataDir(dataDir)

describe('customer-hub migrate', { timeout: processTimeout }, () => {
  it('applies every migration on a fresh data directory, then says it is up to date', async () => {
    const first = await cli('migrate')
    expect(first.code).toBe(0)
    expect(first.stdout.trim()).toBe(`applied: ${builtMigrations().join(', ')}`)
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false)

    const second = await cli('migrate')
    expect(second.code).toBe(0)
    expect(second.stdout.trim()).toBe('the database is up to date')

    // a hub on the migrated directory starts and applies nothing more
    const hub = await spawnHub({ cwd: tmp.dir, env })
    expect((await call(hub.url, 'GET', '/customer', hub.firstStartToken)).status).toBe(200)
    await hub.stop()
    expect((await cli('migrate')).stdout.trim()).toBe('the database is up to date')
  })
})

describe('customer-hub token', { timeout: processTimeout }, () => {
  it('manages tokens directly while no hub runs, and through the running hub otherwise', async () => {
    // the first start makes the admin token and its file
    await migrated()
    const boot = await spawnHub({ cwd: tmp.dir, env })
    const admin = boot.firstStartToken!
    await boot.stop()

    // no hub runs: the command opens the database itself
    const created = await cli('token', 'create', '--role', 'platform', '--name', 'shopify')
    expect(created.code).toBe(0)
    const shopify = created.stdout.trim()
    expect(shopify).toMatch(/^chub_[A-Za-z0-9_-]{43}$/)
    expect(created.stderr).toContain('created platform token "shopify"')

    const listed = await cli('token', 'list')
    expect(listed.code).toBe(0)
    const rows = listed.stdout.trim().split('\n').map((l) => l.split('\t'))
    expect(rows.map((r) => [r[0], r[1]])).toEqual([['admin', 'admin'], ['shopify', 'platform']])
    expect(listed.stdout).not.toContain('chub_')
    expect(listed.stdout).not.toContain(admin)

    const duplicate = await cli('token', 'create', '--role', 'admin', '--name', 'shopify')
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr.trim()).toBe('customer-hub: an active token is already named "shopify"')

    // the hub accepts the new token as a platform token; PORT of the commands below differs from the hub's
    const hub = await spawnHub({ cwd: tmp.dir, env })
    expect(hub.firstStartToken).toBeUndefined()
    const customer = await call(hub.url, 'POST', '/customer', shopify, { email: 'platform@example.com' })
    expect(customer.status).toBe(201)
    const forbidden = await call(hub.url, 'GET', '/customer', shopify)
    expect(forbidden.status).toBe(403)
    expect(forbidden.body.code).toBe('FORBIDDEN')

    // the hub runs and holds the directory: the commands go through its API with <dataDir>/admin-token
    const viaApi = await cli('token', 'create', '--role', 'platform', '--name', 'woo')
    expect(viaApi.code).toBe(0)
    const woo = viaApi.stdout.trim()
    expect(woo).toMatch(/^chub_/)
    expect((await call(hub.url, 'POST', '/customer', woo, { email: 'woo@example.com' })).status).toBe(201)

    const listedViaApi = await cli('token', 'list')
    expect(listedViaApi.code).toBe(0)
    expect(listedViaApi.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2))).toEqual([
      ['admin', 'admin'],
      ['shopify', 'platform'],
      ['woo', 'platform'],
    ])
    expect(listedViaApi.stdout).not.toContain('chub_')
    // shopify was used above, so the hub recorded it
    expect(listedViaApi.stdout.split('\n').find((l) => l.startsWith('shopify\t'))).not.toContain('last used never')

    const revoked = await cli('token', 'revoke', 'shopify')
    expect(revoked.code).toBe(0)
    expect(revoked.stderr).toContain('revoked "shopify"')
    const refused = await call(hub.url, 'POST', '/customer', shopify, { email: 'after-revoke@example.com' })
    expect(refused.status).toBe(401)
    expect(refused.body.code).toBe('UNAUTHORIZED')

    const unknown = await cli('token', 'revoke', 'shopify')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('TOKEN_NOT_FOUND')
    expect(unknown.stderr).not.toMatch(/\n\s+at /)

    await hub.stop()

    // stopped again: revoke directly, and the next hub refuses the token
    expect((await cli('token', 'revoke', 'woo')).code).toBe(0)
    const next = await spawnHub({ cwd: tmp.dir, env })
    expect((await call(next.url, 'GET', '/customer/x', woo)).status).toBe(401)
    expect((await call(next.url, 'GET', '/customer', admin)).status).toBe(200)
    const final = await cli('token', 'list')
    expect(final.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['admin'])
    await next.stop()
  })

  it('makes a platform token bound to its components and platforms, directly and through the running hub; the hub holds it to them', async () => {
    await migrated()
    const eu = await cli('token', 'create', '--role', 'platform', '--name', 'shopify-eu', '--component', 'identity.shopify-eu', '--component', 'identity.shopify-eu-b2b', '--platform', 'shopify-eu')
    expect(eu.code, eu.stderr).toBe(0)
    expect(eu.stderr).toContain('created platform token "shopify-eu" for components identity.shopify-eu,identity.shopify-eu-b2b; platforms shopify-eu')
    const euToken = eu.stdout.trim()
    // bad scopes make no token: a scope on an admin token, a name that is no component
    const admin = await cli('token', 'create', '--role', 'admin', '--name', 'ops', '--platform', 'shopify-eu')
    expect(admin.code).toBe(1)
    expect(admin.stderr).toContain('only a platform token takes components or platforms')
    const bad = await cli('token', 'create', '--role', 'platform', '--name', 'bad', '--component', 'Not A Component')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('"Not A Component" is not an identity component')

    const hub = await spawnHub({ cwd: tmp.dir, env })
    const viaApi = await cli('token', 'create', '--role', 'platform', '--name', 'shopify-us', '--component', 'identity.shopify-us', '--platform', 'shopify-us')
    expect(viaApi.code, viaApi.stderr).toBe(0)
    const usToken = viaApi.stdout.trim()
    const plain = await cli('token', 'create', '--role', 'platform', '--name', 'marketplace')
    expect(plain.stderr).toContain('created platform token "marketplace" for components none; platforms none')
    const listed = await cli('token', 'list')
    expect(listed.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 3))).toEqual([
      ['shopify-eu', 'platform', 'components identity.shopify-eu,identity.shopify-eu-b2b; platforms shopify-eu'],
      ['admin', 'admin', 'every component and platform'], // made by the first start, after shopify-eu
      ['shopify-us', 'platform', 'components identity.shopify-us; platforms shopify-us'],
      ['marketplace', 'platform', 'components none; platforms none'],
    ])

    const sync = (token: string, component: string, externalId: string) => call(hub.url, 'POST', '/customer/sync', token, { platform: { component, externalId } })
    expect((await sync(euToken, 'identity.shopify-eu-b2b', 'eu-1')).status).toBe(201)
    expect((await sync(usToken, 'identity.shopify-us', 'us-1')).status).toBe(201)
    for (const [token, component] of [[euToken, 'identity.shopify-us'], [usToken, 'identity.shopify-eu']] as const) {
      const refused = await sync(token, component, 'stolen-1')
      expect(refused.status).toBe(403)
      expect(refused.body).toMatchObject({ code: 'PLATFORM_SCOPE', details: { component } })
    }
    const customer = (await sync(hub.firstStartToken!, 'identity.shopify-eu', 'eu-2')).body.customer
    const order = { externalId: 'o-1', customerId: customer.id, total: 100, currency: 'EUR', placedAt: '2026-01-01T00:00:00.000Z' }
    expect((await call(hub.url, 'POST', '/orders', usToken, { ...order, platform: 'shopify-eu' })).body.code).toBe('PLATFORM_SCOPE')
    expect((await call(hub.url, 'POST', '/orders', euToken, { ...order, platform: 'shopify-eu' })).status).toBe(201)
    await hub.stop()
  })

  it('makes a metrics:read token directly and through the running hub; the hub lets it scrape GET /metrics and nothing else', async () => {
    await migrated()
    const direct = await cli('token', 'create', '--role', 'metrics:read', '--name', 'prometheus')
    expect(direct.code, direct.stderr).toBe(0)
    expect(direct.stderr).toContain('created metrics:read token "prometheus" for GET /metrics only')
    const scraper = direct.stdout.trim()
    expect(scraper).toMatch(/^chub_/)
    const scoped = await cli('token', 'create', '--role', 'metrics:read', '--name', 'scoped', '--component', 'identity.shop')
    expect(scoped.code).toBe(1)
    expect(scoped.stderr).toContain('A metrics:read token acts for no component or platform')

    const hub = await spawnHub({ cwd: tmp.dir, env })
    const viaApi = await cli('token', 'create', '--role', 'metrics:read', '--name', 'prometheus-b')
    expect(viaApi.code, viaApi.stderr).toBe(0)
    const listed = await cli('token', 'list')
    expect(listed.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 3))).toEqual([
      ['prometheus', 'metrics:read', 'GET /metrics only'],
      ['admin', 'admin', 'every component and platform'], // made by the first start, after prometheus
      ['prometheus-b', 'metrics:read', 'GET /metrics only'],
    ])
    for (const token of [scraper, viaApi.stdout.trim()]) {
      const metrics = await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
      expect(metrics.status).toBe(200)
      expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
      expect(await metrics.text()).toContain('# TYPE hub_http_requests_total counter')
      for (const [method, path] of [['GET', '/customer'], ['GET', '/events'], ['GET', '/tokens']] as const) {
        const refused = await call(hub.url, method, path, token)
        expect(refused.status, `${method} ${path}`).toBe(403)
        expect(refused.body.code).toBe('FORBIDDEN')
      }
    }
    await hub.stop()
  })

  it('through a running hub, without an admin token to use, says to set HUB_ADMIN_TOKEN', async () => {
    const given = 'given-admin-token-0123456789abcdef'
    await migrated()
    const hub = await spawnHub({ cwd: tmp.dir, env: { ...env, HUB_ADMIN_TOKEN: given } })
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false)

    const refused = await cli('token', 'list')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('HUB_ADMIN_TOKEN')
    expect(refused.stderr).not.toMatch(/\n\s+at /) // one line, no stack trace

    const withToken = await runCli(['token', 'create', '--role', 'admin', '--name', 'ops'], { cwd: tmp.dir, env: { ...env, HUB_ADMIN_TOKEN: given } })
    expect(withToken.code).toBe(0)
    expect((await call(hub.url, 'GET', '/customer', withToken.stdout.trim())).status).toBe(200)
    await hub.stop()
  })

  it('bad usage exits 2 with the usage and touches nothing', async () => {
    const cases = [
      ['token'],
      ['token', 'frobnicate'],
      ['token', 'create', '--name', 'x'],
      ['token', 'create', '--role', 'platform'],
      ['token', 'create', '--role', 'superuser', '--name', 'x'],
      ['token', 'create', '--role', 'platform', '--name'],
      ['token', 'create', '--role', 'platform', '--name', 'x', '--bogus'],
      ['token', 'revoke'],
      ['token', 'revoke', 'a', 'b'],
      ['token', 'list', 'extra'],
      ['frobnicate'],
    ]
    const results = await Promise.all(cases.map((args) => cli(...args)))
    for (const [i, result] of results.entries()) {
      expect({ args: cases[i], code: result.code }).toEqual({ args: cases[i], code: 2 })
      expect(result.stderr).toContain('token create --role admin|platform|events:read|metrics:read --name NAME')
      expect(result.stderr).not.toMatch(/\n\s+at /)
      expect(result.stdout).toBe('')
    }
    expect(existsSync(dataDir)).toBe(false)

    const help = await cli('help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('token create --role admin|platform|events:read|metrics:read --name NAME')
  })
})

describe('customer-hub staff', { timeout: processTimeout }, () => {
  it('makes staff users directly while no hub runs and through the running hub otherwise; they sign in with the password read from stdin', async () => {
    await migrated()
    const password = 'a staff password 1'
    const made = await runCli(['staff', 'create', '--email', ' Agent@Example.com ', '--role', 'support', '--name', 'Agent'], { cwd: tmp.dir, env, input: `${password}\n` })
    expect(made.code, made.stderr).toBe(0)
    const agentId = made.stdout.trim()
    expect(agentId).toMatch(/^stf_[0-9A-Z]{26}$/)
    expect(made.stderr).toContain('created support staff user agent@example.com')
    expect(made.stdout + made.stderr).not.toContain(password)

    const short = await runCli(['staff', 'create', '--email', 'short@example.com', '--role', 'admin'], { cwd: tmp.dir, env, input: 'short\n' })
    expect(short.code).toBe(1)
    expect(short.stderr).toContain('at least')
    expect((await cli('staff', 'create', '--email', 'x@example.com', '--role', 'owner')).code).toBe(2)
    expect((await cli('staff', 'disable')).code).toBe(2)

    const hub = await spawnHub({ cwd: tmp.dir, env })
    const login = await call(hub.url, 'POST', '/auth/staff/login', undefined, { email: 'agent@example.com', password })
    expect(login.status, JSON.stringify(login.body)).toBe(200)
    const who = await call(hub.url, 'GET', '/auth/session', login.body.accessToken as string)
    expect(who.body).toMatchObject({ kind: 'staff', role: 'support', staffId: agentId, name: 'agent@example.com' })

    // the hub holds the directory: through its API
    const viaApi = await runCli(['staff', 'create', '--email', 'lead@example.com', '--role', 'admin'], { cwd: tmp.dir, env, input: `${password}\n` })
    expect(viaApi.code, viaApi.stderr).toBe(0)
    const taken = await runCli(['staff', 'create', '--email', 'lead@example.com', '--role', 'admin'], { cwd: tmp.dir, env, input: `${password}\n` })
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain('STAFF_USER_TAKEN')
    const listed = await cli('staff', 'list')
    expect(listed.stdout.trim().split('\n').map((l) => l.split('\t').slice(1, 3))).toEqual([['agent@example.com', 'support'], ['lead@example.com', 'admin']])

    const disabled = await cli('staff', 'disable', agentId)
    expect(disabled.code, disabled.stderr).toBe(0)
    expect((await call(hub.url, 'GET', '/auth/session', login.body.accessToken as string)).status).toBe(401)
    expect((await call(hub.url, 'POST', '/auth/staff/login', undefined, { email: 'agent@example.com', password })).status).toBe(401)
    await hub.stop()
  })
})

describe('customer-hub keys rotate', { timeout: processTimeout }, () => {
  it('rotates directly while no hub runs and through the running hub otherwise; old keys stay published', async () => {
    await migrated()
    const first = await cli('keys', 'rotate')
    expect(first.code).toBe(0)
    const kid1 = first.stdout.trim()
    expect(kid1).toMatch(/^key_[0-9A-Z]{26}$/)

    const hub = await spawnHub({ cwd: tmp.dir, env })
    const kids = async () => ((await call(hub.url, 'GET', '/.well-known/jwks.json')).body.keys as { kid: string }[]).map((k) => k.kid)
    expect(await kids()).toEqual([kid1])

    const second = await cli('keys', 'rotate')
    expect(second.code).toBe(0)
    const kid2 = second.stdout.trim()
    expect(kid2).toMatch(/^key_/)
    expect(kid2).not.toBe(kid1)
    expect(await kids()).toEqual([kid2, kid1])
    await hub.stop()

    expect((await cli('keys')).code).toBe(2)
    expect((await cli('keys', 'spin')).code).toBe(2)
  })
})

describe('customer-hub export-person', { timeout: processTimeout }, () => {
  it('prints the export of a customer through the running hub and from the database itself, or writes it to --out', async () => {
    await migrated()
    const hub = await spawnHub({ cwd: tmp.dir, env })
    const token = hub.firstStartToken!
    const created = await call(hub.url, 'POST', '/customer', token, { email: 'export-cli@example.com', firstName: 'Ada' })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const other = await call(hub.url, 'POST', '/customer', token, { email: 'export-cli-other@example.com', phone: '+14155550199' })
    expect((await call(hub.url, 'POST', `/customer/${id}/merge`, token, { sourceId: other.body.id })).status).toBe(200)
    const viaHttp = await call(hub.url, 'GET', `/customer/${id}/export`, token)
    expect(viaHttp.status).toBe(200)

    // the hub holds the embedded database: the command goes through its API
    const throughApi = await cli('export-person', id)
    expect(throughApi.code, throughApi.stderr).toBe(0)
    const printed = JSON.parse(throughApi.stdout)
    expect({ ...printed, exportedAt: viaHttp.body.exportedAt }).toEqual(viaHttp.body)
    const merged = await cli('export-person', other.body.id)
    expect(merged.code).toBe(1)
    expect(merged.stderr).toContain('CUSTOMER_MERGED')
    await hub.stop()

    // no hub runs: the command reads the database itself
    const out = join(tmp.dir, 'person.json')
    const direct = await cli('export-person', id, '--out', out)
    expect(direct.code, direct.stderr).toBe(0)
    expect(direct.stdout.trim()).toBe('')
    const written = JSON.parse(readFileSync(out, 'utf8'))
    expect({ ...written, exportedAt: viaHttp.body.exportedAt }).toEqual(viaHttp.body)
    expect(written).toMatchObject({ schemaVersion: 1, customerId: id, absorbedCustomers: [{ mergedInto: id }] })
    expect(written.identities.map((i: { value: string }) => i.value).sort()).toEqual(['+14155550199', 'export-cli-other@example.com', 'export-cli@example.com'])
    expect(statSync(out).mode & 0o777).toBe(0o600)

    const unknown = await cli('export-person', 'cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('CUSTOMER_NOT_FOUND')
    expect((await cli('export-person')).code).toBe(2)
    expect((await cli('export-person', id, 'extra')).code).toBe(2)
  })
})

describe('customer-hub erase-person', { timeout: processTimeout }, () => {
  it('erases a customer through the running hub or in the database itself; erasing again prints the same answer', async () => {
    await migrated()
    const hub = await spawnHub({ cwd: tmp.dir, env })
    const token = hub.firstStartToken!
    const make = async (email: string) => {
      const created = await call(hub.url, 'POST', '/customer', token, { email, firstName: 'Erasable' })
      expect(created.status).toBe(201)
      return created.body.id as string
    }
    const viaApi = await make('erase-cli-api@example.com')
    const viaDb = await make('erase-cli-db@example.com')

    // the hub holds the embedded database: the command goes through its API
    const erased = await cli('erase-person', viaApi)
    expect(erased.code, erased.stderr).toBe(0)
    const answer = JSON.parse(erased.stdout)
    expect(answer).toMatchObject({ customerId: viaApi, records: [viaApi] })
    const gone = await call(hub.url, 'GET', `/customer/${viaApi}`, token)
    expect(gone.status).toBe(410)
    expect(gone.body.code).toBe('CUSTOMER_ERASED')
    await hub.stop()

    // no hub runs: the command writes to the database itself
    const direct = await cli('erase-person', viaDb)
    expect(direct.code, direct.stderr).toBe(0)
    expect(JSON.parse(direct.stdout)).toMatchObject({ customerId: viaDb, records: [viaDb] })
    const again = await cli('erase-person', viaApi)
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toEqual(answer)

    const unknown = await cli('erase-person', 'cus_01JDA9Q3C7M2ZK8V4T6N1R5XWE')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('CUSTOMER_NOT_FOUND')
    expect((await cli('erase-person')).code).toBe(2)
    expect((await cli('erase-person', viaDb, 'extra')).code).toBe(2)

    const exported = await cli('export-person', viaDb)
    expect(exported.code).toBe(1)
    expect(exported.stderr).toContain('CUSTOMER_ERASED')
  })
})
