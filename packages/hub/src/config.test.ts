import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { loadConfig } from './config.js'
import { defaultCustomerSettings } from './customers/settings.js'
import { ConfigError } from './errors.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hub-config-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function writeYaml(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** The ConfigError `load` throws; fails the test when it throws nothing or something else. */
function configError(load: () => unknown): ConfigError {
  try {
    load()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError, but the configuration loaded')
}

describe('loadConfig', () => {
  test('defaults equal the documented ones', () => {
    const config = loadConfig({}, dir)
    expect(config.customer).toEqual({
      requireEmailVerification: true,
      allowGuestCheckout: true,
      passwordMinLength: 8,
      maxAddresses: 10,
      autoMergeGuest: true,
      defaultCountry: 'US',
    })
    expect(defaultCustomerSettings).toEqual(config.customer)
    expect(config).toMatchObject({
      port: 1337,
      host: '127.0.0.1',
      logLevel: 'info',
      databaseUrl: undefined,
      dataDir: join(dir, '.hub-data'),
      poolSize: 10,
      adminToken: undefined,
      heapGrowingPercent: 20,
    })
  })

  test('a YAML file named by HUB_CONFIG sets the customer settings', () => {
    writeYaml('hub.yaml', [
      'customer:',
      '  require_email_verification: false',
      '  allow_guest_checkout: false',
      '  password_min_length: 12',
      '  max_addresses: 4',
      '  auto_merge_guest: false',
      '  default_country: th',
      '',
    ].join('\n'))
    const config = loadConfig({ HUB_CONFIG: 'hub.yaml' }, dir)
    expect(config.customer).toEqual({
      requireEmailVerification: false,
      allowGuestCheckout: false,
      passwordMinLength: 12,
      maxAddresses: 4,
      autoMergeGuest: false,
      defaultCountry: 'TH',
    })
  })

  test('./customer-hub.yaml is read when HUB_CONFIG is unset; keys it leaves out keep their defaults', () => {
    writeYaml('customer-hub.yaml', 'customer:\n  max_addresses: 2\n')
    const config = loadConfig({}, dir)
    expect(config.customer).toEqual({ ...defaultCustomerSettings, maxAddresses: 2 })
  })

  test('an empty file or an empty customer section keeps the defaults', () => {
    writeYaml('customer-hub.yaml', '')
    expect(loadConfig({}, dir).customer).toEqual(defaultCustomerSettings)
    writeYaml('customer-hub.yaml', 'customer:\n')
    expect(loadConfig({}, dir).customer).toEqual(defaultCustomerSettings)
  })

  test('HUB_CUSTOMER_* variables override the file', () => {
    writeYaml('customer-hub.yaml', 'customer:\n  max_addresses: 5\n  allow_guest_checkout: false\n  password_min_length: 9\n')
    const config = loadConfig({
      HUB_CUSTOMER_MAX_ADDRESSES: '3',
      HUB_CUSTOMER_ALLOW_GUEST_CHECKOUT: 'true',
      HUB_CUSTOMER_REQUIRE_EMAIL_VERIFICATION: 'false',
      HUB_CUSTOMER_DEFAULT_COUNTRY: 'gb',
      HUB_CUSTOMER_PASSWORD_MIN_LENGTH: '',
    }, dir)
    expect(config.customer).toEqual({
      ...defaultCustomerSettings,
      maxAddresses: 3,
      allowGuestCheckout: true,
      requireEmailVerification: false,
      defaultCountry: 'GB',
      // an empty variable overrides nothing
      passwordMinLength: 9,
    })
    expect(loadConfig({ HUB_CUSTOMER_MAX_ADDRESSES: '3' }, dir).customer.maxAddresses).toBe(3)
  })

  test('the process settings come from their variables', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      LOG_LEVEL: 'warn',
      DATABASE_URL: 'postgres://db/hub',
      HUB_DATA_DIR: 'data',
      HUB_DB_POOL_SIZE: '25',
      HUB_DB_CONNECT_TIMEOUT_MS: '2500',
      HUB_ADMIN_TOKEN: 'secret-admin-token-0123456789abcdef',
      HUB_HEAP_GROWING_PERCENT: '35',
    }, dir)
    expect(config).toMatchObject({
      heapGrowingPercent: 35,
      port: 8080,
      host: '0.0.0.0',
      logLevel: 'warn',
      databaseUrl: 'postgres://db/hub',
      dataDir: join(dir, 'data'),
      poolSize: 25,
      dbConnectTimeoutMs: 2500,
      adminToken: 'secret-admin-token-0123456789abcdef',
    })
  })

  test('an unknown key throws a ConfigError naming it', () => {
    writeYaml('customer-hub.yaml', 'customer:\n  max_adresses: 3\n')
    expect(configError(() => loadConfig({}, dir)).message).toContain('customer.max_adresses')
    writeYaml('customer-hub.yaml', 'customers:\n  max_addresses: 3\n')
    expect(configError(() => loadConfig({}, dir)).message).toContain('"customers"')
  })

  test('a value of the wrong type throws a ConfigError naming the key', () => {
    const cases: [string, string][] = [
      ['max_addresses: ten', 'customer.max_addresses'],
      ['max_addresses: 2.5', 'customer.max_addresses'],
      ['max_addresses: 0', 'customer.max_addresses'],
      ['max_addresses: "3"', 'customer.max_addresses'],
      ['password_min_length: -1', 'customer.password_min_length'],
      ['require_email_verification: "false"', 'customer.require_email_verification'],
      ['allow_guest_checkout: yes', 'customer.allow_guest_checkout'],
      ['auto_merge_guest: 1', 'customer.auto_merge_guest'],
    ]
    for (const [line, key] of cases) {
      writeYaml('customer-hub.yaml', `customer:\n  ${line}\n`)
      expect(configError(() => loadConfig({}, dir)).message, line).toContain(key)
    }
    writeYaml('customer-hub.yaml', 'customer: [1, 2]\n')
    expect(configError(() => loadConfig({}, dir)).message).toContain('customer')
  })

  test('the heap growth: none set by the hub when node is given --heap-growing-percent in NODE_OPTIONS', () => {
    expect(loadConfig({ NODE_OPTIONS: '--heap-growing-percent=50 --enable-source-maps' }, dir).heapGrowingPercent).toBe(0)
    expect(loadConfig({ NODE_OPTIONS: '--enable-source-maps' }, dir).heapGrowingPercent).toBe(20)
    expect(loadConfig({ HUB_HEAP_GROWING_PERCENT: '0' }, dir).heapGrowingPercent).toBe(0)
  })

  test('a wrong environment value throws a ConfigError naming the variable', () => {
    const cases: Record<string, string> = {
      HUB_CUSTOMER_MAX_ADDRESSES: 'many',
      HUB_CUSTOMER_PASSWORD_MIN_LENGTH: '4.5',
      HUB_CUSTOMER_AUTO_MERGE_GUEST: 'yes',
      HUB_CUSTOMER_DEFAULT_COUNTRY: 'XX',
      PORT: 'http',
      HUB_DB_POOL_SIZE: '0',
      HUB_DB_CONNECT_TIMEOUT_MS: '50',
      HUB_HEAP_GROWING_PERCENT: '-1',
      HUB_ADMIN_TOKEN: 'short-admin-token',
      HUB_IDENTITY_AUTO_MERGE: 'maybe',
      HUB_IDENTITY_COMPONENT_COUNTRIES: 'identity.thai-store=XX',
    }
    for (const [name, value] of Object.entries(cases)) {
      expect(configError(() => loadConfig({ [name]: value }, dir)).message, name).toContain(name)
    }
  })

  test('a bad country throws a ConfigError naming the key', () => {
    for (const country of ['XX', 'USA', '12', 'true']) {
      writeYaml('customer-hub.yaml', `customer:\n  default_country: ${country}\n`)
      expect(configError(() => loadConfig({}, dir)).message, country).toContain('customer.default_country')
    }
  })

  test('identity: auto_merge and the phone country of each platform component, from the file and the environment', () => {
    expect(loadConfig({}, dir).identity).toEqual({ autoMerge: 'safe', components: {} })
    writeYaml('customer-hub.yaml', 'identity:\n  auto_merge: off\n  components:\n    identity.thai-store: { default_country: th }\n')
    expect(loadConfig({}, dir).identity).toEqual({ autoMerge: 'off', components: { 'identity.thai-store': { defaultCountry: 'TH' } } })
    const both = loadConfig({ HUB_IDENTITY_AUTO_MERGE: 'safe', HUB_IDENTITY_COMPONENT_COUNTRIES: 'identity.us-shop=US, identity.thai-store=VN' }, dir).identity
    expect(both).toEqual({ autoMerge: 'safe', components: { 'identity.thai-store': { defaultCountry: 'VN' }, 'identity.us-shop': { defaultCountry: 'US' } } })
    for (const [yaml, named] of [
      ['identity:\n  auto_merge: sometimes\n', 'identity.auto_merge'],
      ['identity:\n  merge: safe\n', 'identity.merge'],
      ['identity:\n  components:\n    identity.shop: { default_country: XX }\n', 'identity.components.identity.shop.default_country'],
      ['identity:\n  components:\n    identity.shop: { country: TH }\n', 'identity.components.identity.shop.country'],
      ['identity:\n  components:\n    Shop Name: { default_country: TH }\n', 'Shop Name'],
    ]) {
      writeYaml('customer-hub.yaml', yaml!)
      expect(configError(() => loadConfig({}, dir)).message, yaml).toContain(named)
    }
  })

  test('http.trust_proxy (HUB_TRUST_PROXY): false by default; true, false, a hop count or addresses and CIDR ranges', () => {
    expect(loadConfig({}, dir).http).toEqual({ trustProxy: false })
    writeYaml('customer-hub.yaml', 'http:\n  trust_proxy: [10.0.0.0/8, "::1", loopback]\n')
    expect(loadConfig({}, dir).http.trustProxy).toEqual(['10.0.0.0/8', '::1', 'loopback'])
    writeYaml('customer-hub.yaml', 'http:\n  trust_proxy: 10.0.0.0/8, 192.168.1.7\n')
    expect(loadConfig({}, dir).http.trustProxy).toEqual(['10.0.0.0/8', '192.168.1.7'])
    writeYaml('customer-hub.yaml', 'http:\n  trust_proxy: true\n')
    expect(loadConfig({}, dir).http.trustProxy).toBe(true)
    expect(loadConfig({ HUB_TRUST_PROXY: 'false' }, dir).http.trustProxy).toBe(false)
    expect(loadConfig({ HUB_TRUST_PROXY: '2' }, dir).http.trustProxy).toBe(2)
    expect(loadConfig({ HUB_TRUST_PROXY: ' 172.16.0.0/12 , 2001:db8::/32' }, dir).http.trustProxy).toEqual(['172.16.0.0/12', '2001:db8::/32'])
    for (const bad of ['yes', '10.0.0.0/33', '10.0.0', 'example.com', '1.2.3.4/8/1', ',']) {
      expect(configError(() => loadConfig({ HUB_TRUST_PROXY: bad }, dir)).message, bad).toContain('HUB_TRUST_PROXY')
    }
    for (const yaml of ['http:\n  trust_proxy: maybe\n', 'http:\n  trust_proxy: -1\n', 'http:\n  trust_proxy: []\n', 'http:\n  proxy: true\n']) {
      writeYaml('customer-hub.yaml', yaml)
      expect(configError(() => loadConfig({}, dir)).message, yaml).toMatch(/http\.(trust_proxy|proxy)/)
    }
  })

  test('auth: the sign-in and failed-token limits, from the file and the environment', () => {
    expect(loadConfig({}, dir).auth).toMatchObject({ loginLimitPerAddress: 100, loginWindow: 900, loginBackoffAfter: 5, loginBackoff: 60, loginBackoffMax: 3600, loginFailuresPerEmail: 100, tokenFailuresPerAddress: 30, tokenFailureWindow: 300 })
    writeYaml('customer-hub.yaml', 'auth:\n  login_backoff_after: 3\n  login_backoff: 30\n  login_backoff_max: 600\n  login_failures_per_email: 50\n  token_failures_per_address: 10\n')
    const env = { HUB_AUTH_TOKEN_FAILURE_WINDOW: '60' }
    expect(loadConfig(env, dir).auth).toMatchObject({ loginBackoffAfter: 3, loginBackoff: 30, loginBackoffMax: 600, loginFailuresPerEmail: 50, tokenFailuresPerAddress: 10, tokenFailureWindow: 60 })
    expect(configError(() => loadConfig({ HUB_AUTH_LOGIN_BACKOFF_AFTER: '0' }, dir)).message).toContain('HUB_AUTH_LOGIN_BACKOFF_AFTER')
  })

  test('a missing HUB_CONFIG file throws a ConfigError naming HUB_CONFIG', () => {
    const error = configError(() => loadConfig({ HUB_CONFIG: 'does-not-exist.yaml' }, dir))
    expect(error.message).toContain('HUB_CONFIG')
    expect(error.message).toContain('does-not-exist.yaml')
  })

  test('a file that is not YAML or not a mapping throws a ConfigError naming the file', () => {
    const broken = writeYaml('broken.yaml', 'customer:\n  max_addresses: [\n')
    expect(configError(() => loadConfig({ HUB_CONFIG: broken }, dir)).message).toContain(broken)
    const list = writeYaml('list.yaml', '- customer\n')
    expect(configError(() => loadConfig({ HUB_CONFIG: list }, dir)).message).toContain(list)
  })

  test('HUB_DB_POOLER and HUB_DB_DIRECT_URL: none by default, transaction behind pgbouncer, anything else refused; PostgreSQL only', () => {
    const url = 'postgres://hub@pgbouncer:6432/hub'
    expect(loadConfig({ DATABASE_URL: url }, dir)).toMatchObject({ dbPooler: 'none', dbDirectUrl: undefined })
    const direct = 'postgres://hub@db:5432/hub'
    expect(loadConfig({ DATABASE_URL: url, HUB_DB_POOLER: 'transaction', HUB_DB_DIRECT_URL: direct }, dir)).toMatchObject({ dbPooler: 'transaction', dbDirectUrl: direct })
    expect(configError(() => loadConfig({ DATABASE_URL: url, HUB_DB_POOLER: 'session' }, dir)).message).toContain('HUB_DB_POOLER must be none or transaction')
    expect(configError(() => loadConfig({ HUB_DB_POOLER: 'transaction' }, dir)).message).toContain('go with DATABASE_URL')
    expect(configError(() => loadConfig({ HUB_DB_DIRECT_URL: direct }, dir)).message).toContain('go with DATABASE_URL')
  })
})
