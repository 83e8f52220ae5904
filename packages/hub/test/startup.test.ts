import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { call, copyMigratedDataDir, killAll, processTimeout, runServe, spawnHub, tempDir } from './helpers/spawn-hub.js'

let tmp: ReturnType<typeof tempDir>
let dataDir: string

beforeEach(() => {
  tmp = tempDir()
  dataDir = join(tmp.dir, 'data')
})
afterEach(async () => {
  await killAll()
  tmp.remove()
})

describe('first start on an embedded data directory', { timeout: processTimeout }, () => {
  // on a fresh data directory: it also applies every migration; the tests after it start on a
  // migrated directory where no hub has started yet, whose first start makes the admin token
  it('prints the admin token once, writes it 0600 to <dataDir>/admin-token, and the token is an admin token', async () => {
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = hub.firstStartToken
    expect(token).toMatch(/^chub_[A-Za-z0-9_-]{43}$/)
    expect(hub.stdout).toContain('First start: an admin token was created. It is shown this once:')
    expect(hub.stdout.filter((l) => l.includes(token!))).toEqual([`  ${token}`])

    const file = join(dataDir, 'admin-token')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe(`${token}\n`)

    // admin-only route
    const list = await call(hub.url, 'GET', '/customer', token)
    expect(list.status).toBe(200)
    expect(list.body).toEqual({ data: [], nextCursor: null })
    expect((await call(hub.url, 'GET', '/customer')).status).toBe(401)
    expect((await call(hub.url, 'GET', '/customer', `${token}x`)).status).toBe(401)

    await hub.stop()
  })

  it('a restart prints no new token, keeps the token file (made 0600 again if loosened), and keeps the data', async () => {
    await copyMigratedDataDir(dataDir)
    const first = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    const token = first.firstStartToken!
    const created = await call(first.url, 'POST', '/customer', token, { email: 'Ada@Example.com', firstName: 'Ada' })
    expect(created.status).toBe(201)
    expect(await first.stop()).toEqual({ code: 0, signal: null })
    chmodSync(join(dataDir, 'admin-token'), 0o644)

    const second = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir } })
    expect(second.firstStartToken).toBeUndefined()
    expect(second.stdout.some((l) => l.includes('chub_') || l.startsWith('First start'))).toBe(false)
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8')).toBe(`${token}\n`)
    expect(statSync(join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600)

    const read = await call(second.url, 'GET', `/customer/${created.body.id}`, token)
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ id: created.body.id, email: 'ada@example.com', firstName: 'Ada' })
    const list = await call(second.url, 'GET', '/customer', token)
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([created.body.id])
    await second.stop()
  })

  it('never writes the token into a JSON log line, even for requests that carry it', async () => {
    await copyMigratedDataDir(dataDir)
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir, LOG_LEVEL: 'debug' } })
    const token = hub.firstStartToken!
    await call(hub.url, 'GET', `/customer?q=${token}`, token)
    await call(hub.url, 'POST', '/customer', token, { email: 'x@example.com', metadata: { note: token } })
    await call(hub.url, 'POST', '/customer', token, { email: 'not-valid', unknown: token })
    await hub.stop()

    const json = hub.stdout.filter((l) => l.startsWith('{'))
    // the requests above were logged (so the check below looked at real request lines)
    expect(json.filter((l) => (JSON.parse(l) as { req?: unknown }).req !== undefined).length).toBeGreaterThanOrEqual(3)
    for (const line of json) expect(line).not.toContain(token)
    for (const line of json) expect(line).not.toContain(token.slice(5, 25))
    expect(hub.stderr()).not.toContain(token)
  })

  it('with HUB_ADMIN_TOKEN set, makes no token of its own and accepts the given one', async () => {
    const given = 'given-admin-token-0123456789abcdef'
    await copyMigratedDataDir(dataDir)
    const hub = await spawnHub({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir, HUB_ADMIN_TOKEN: given } })
    expect(hub.firstStartToken).toBeUndefined()
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false)
    expect((await call(hub.url, 'GET', '/customer', given)).status).toBe(200)
    expect(hub.stdout.some((l) => l.includes(given))).toBe(false)
    await hub.stop()
  })
})

describe('start-up configuration errors', { timeout: processTimeout }, () => {
  const yaml = (text: string) => {
    const file = join(tmp.dir, 'hub.yaml')
    writeFileSync(file, text)
    return file
  }

  async function expectConfigFailure(env: Record<string, string>, ...named: string[]) {
    const result = await runServe({ cwd: tmp.dir, env: { HUB_DATA_DIR: dataDir, ...env } })
    expect(result.code).toBe(78)
    expect(result.stderr).toMatch(/^customer-hub: /)
    for (const n of named) expect(result.stderr).toContain(n)
    expect(result.stdout).not.toContain('listening')
    // the configuration is checked before anything is opened or created
    expect(existsSync(dataDir)).toBe(false)
    return result
  }

  it('an unknown key in the customer section', async () => {
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  max_adresses: 5\n') }, '"customer.max_adresses"', 'max_addresses')
  })

  it('an unknown top-level key', async () => {
    await expectConfigFailure({ HUB_CONFIG: yaml('customers:\n  max_addresses: 5\n') }, '"customers"')
  })

  it('a value of the wrong type', async () => {
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  max_addresses: five\n') }, 'customer.max_addresses', '"five"')
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  require_email_verification: "yes"\n') }, 'customer.require_email_verification')
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  max_addresses: 0\n') }, 'customer.max_addresses')
  })

  it('a bad default_country', async () => {
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  default_country: XX\n') }, 'customer.default_country', '"XX"')
    await expectConfigFailure({ HUB_CONFIG: yaml('customer:\n  default_country: USA\n') }, 'customer.default_country')
  })

  it('YAML that does not parse, and a HUB_CONFIG that names no file', async () => {
    const bad = yaml('customer: [unclosed\n')
    await expectConfigFailure({ HUB_CONFIG: bad }, bad)
    await expectConfigFailure({ HUB_CONFIG: join(tmp.dir, 'missing.yaml') }, 'missing.yaml', 'does not exist')
  })

  it('./customer-hub.yaml in the working directory is read when HUB_CONFIG is unset', async () => {
    writeFileSync(join(tmp.dir, 'customer-hub.yaml'), 'customer:\n  password_min_length: -3\n')
    await expectConfigFailure({}, 'customer.password_min_length')
  })

  it('bad environment values: PORT, HUB_DB_POOL_SIZE, HUB_CUSTOMER_*', async () => {
    await expectConfigFailure({ PORT: 'abc' }, 'PORT', '"abc"')
    await expectConfigFailure({ PORT: '70000' }, 'PORT')
    await expectConfigFailure({ HUB_DB_POOL_SIZE: '0' }, 'HUB_DB_POOL_SIZE')
    await expectConfigFailure({ HUB_CUSTOMER_MAX_ADDRESSES: '3.5' }, 'HUB_CUSTOMER_MAX_ADDRESSES')
    await expectConfigFailure({ HUB_CUSTOMER_AUTO_MERGE_GUEST: 'yes' }, 'HUB_CUSTOMER_AUTO_MERGE_GUEST')
  })

  it('a valid file and override are applied (max_addresses from the environment wins over the file)', async () => {
    await copyMigratedDataDir(dataDir)
    const hub = await spawnHub({
      cwd: tmp.dir,
      env: { HUB_DATA_DIR: dataDir, HUB_CONFIG: yaml('customer:\n  max_addresses: 5\n  default_country: th\n'), HUB_CUSTOMER_MAX_ADDRESSES: '1' },
    })
    const token = hub.firstStartToken!
    const c = await call(hub.url, 'POST', '/customer', token, { phone: '081 234 5678' })
    expect(c.status).toBe(201)
    expect(c.body.phone).toBe('+66812345678')
    const address = { line1: '1 Main St', city: 'Bangkok', country: 'TH' }
    expect((await call(hub.url, 'POST', `/customer/${c.body.id}/address`, token, address)).status).toBe(201)
    const second = await call(hub.url, 'POST', `/customer/${c.body.id}/address`, token, address)
    expect(second.status).toBe(422)
    expect(second.body.code).toBe('ADDRESS_LIMIT_REACHED')
    await hub.stop()
  })
})
