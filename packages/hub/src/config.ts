import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max'
import { ConfigError } from './errors.js'

/** The Customer Module settings (the `customer:` section of the YAML file). */
export interface CustomerSettings {
  /** Customers must verify their email before they can log in. Default `true`. */
  requireEmailVerification: boolean
  /** A customer may be created without a password (a guest record). Default `true`. */
  allowGuestCheckout: boolean
  /** Shortest password accepted. Default `8`. */
  passwordMinLength: number
  /** Most addresses one customer may keep. Default `10`. */
  maxAddresses: number
  /** Registering with a guest's email turns the guest into the account. Default `true`. */
  autoMergeGuest: boolean
  /** Country for phone numbers written without a `+` prefix (ISO 3166-1 alpha-2). Default `US`. */
  defaultCountry: CountryCode
}

/** Sessions, sign-in limits and service accounts (the `auth:` section of the YAML file). */
export interface AuthSettings {
  /** Lifetime of an access token (a signed JWT), seconds. Default 900. */
  accessTokenTtl: number
  /** Lifetime of a refresh token, seconds. Default 30 days. */
  refreshTokenTtl: number
  /** Lifetime of an email-verification or password-reset token, seconds. Default 24 hours. */
  oneTimeTokenTtl: number
  /** Sign-in attempts allowed per email within `loginWindow`. Default 10. */
  loginLimitPerEmail: number
  /** Sign-in attempts allowed per client address within `loginWindow`. Default 100. */
  loginLimitPerAddress: number
  /** The window of those limits, seconds. Default 900. */
  loginWindow: number
  /** Service accounts get the email `<handle>@<this>`. Default `service.local`. */
  serviceEmailDomain: string
}

export const defaultAuthSettings: AuthSettings = {
  accessTokenTtl: 900,
  refreshTokenTtl: 30 * 24 * 3600,
  oneTimeTokenTtl: 24 * 3600,
  loginLimitPerEmail: 10,
  loginLimitPerAddress: 100,
  loginWindow: 900,
  serviceEmailDomain: 'service.local',
}

/** A points ledger declared under `ledgers:` (`reward-points` always exists). */
export interface LedgerSettings {
  /** Lower-case handle, e.g. `reward-points`. */
  handle: string
  /** Display name. Default: the handle. */
  name: string
  /** Balances may go below zero. Default `false`. */
  allowNegative: boolean
}

export interface HubConfig {
  /** `PORT`, default 1337. */
  port: number
  /** `HOST`, default 127.0.0.1. */
  host: string
  /** `LOG_LEVEL`, default `info`. */
  logLevel: string
  /** `DATABASE_URL`: PostgreSQL when set; unset means the embedded PGlite database. */
  databaseUrl: string | undefined
  /** `HUB_DATA_DIR`, default `./.hub-data`: where the embedded database lives. */
  dataDir: string
  /** `HUB_DB_POOL_SIZE`, default 10: PostgreSQL connections per hub process. */
  poolSize: number
  /** `HUB_ADMIN_TOKEN`: accepted as an admin token when set. */
  adminToken: string | undefined
  customer: CustomerSettings
  /** Ledgers beyond `reward-points`, from the YAML `ledgers:` list. */
  ledgers: LedgerSettings[]
  auth: AuthSettings
  /**
   * `HUB_SECRET`: encrypts the private signing keys at rest (any string of 32+ characters).
   * Required with PostgreSQL; the embedded database keeps a generated one in its data directory.
   */
  secret: string | undefined
  /** `HUB_DEV_LOG_LINKS=true`: log email-verification and password-reset links (development only). */
  devLogLinks: boolean
}

export const defaultCustomerSettings: CustomerSettings = {
  requireEmailVerification: true,
  allowGuestCheckout: true,
  passwordMinLength: 8,
  maxAddresses: 10,
  autoMergeGuest: true,
  defaultCountry: 'US',
}

type Kind = 'boolean' | 'integer' | 'country' | 'domain'
const customerKeys: Record<string, { field: keyof CustomerSettings; kind: Kind; min?: number; max?: number }> = {
  require_email_verification: { field: 'requireEmailVerification', kind: 'boolean' },
  allow_guest_checkout: { field: 'allowGuestCheckout', kind: 'boolean' },
  password_min_length: { field: 'passwordMinLength', kind: 'integer', min: 1, max: 256 },
  max_addresses: { field: 'maxAddresses', kind: 'integer', min: 1, max: 1000 },
  auto_merge_guest: { field: 'autoMergeGuest', kind: 'boolean' },
  default_country: { field: 'defaultCountry', kind: 'country' },
}

const authKeys: Record<string, { field: keyof AuthSettings; kind: Kind; min?: number; max?: number }> = {
  access_token_ttl: { field: 'accessTokenTtl', kind: 'integer', min: 30, max: 86_400 },
  refresh_token_ttl: { field: 'refreshTokenTtl', kind: 'integer', min: 60, max: 365 * 86_400 },
  one_time_token_ttl: { field: 'oneTimeTokenTtl', kind: 'integer', min: 60, max: 30 * 86_400 },
  login_limit_per_email: { field: 'loginLimitPerEmail', kind: 'integer', min: 1, max: 1_000_000 },
  login_limit_per_address: { field: 'loginLimitPerAddress', kind: 'integer', min: 1, max: 1_000_000 },
  login_window: { field: 'loginWindow', kind: 'integer', min: 1, max: 86_400 },
  service_account_email_domain: { field: 'serviceEmailDomain', kind: 'domain' },
}

/** Reads one YAML section of scalar keys into `target`, refusing unknown keys and bad values. */
function readSection<T>(name: string, section: unknown, keys: Record<string, { field: keyof T; kind: Kind; min?: number; max?: number }>, target: T, path: string) {
  if (section == null) return
  if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`${name} in ${path} must be a mapping`)
  for (const [key, value] of Object.entries(section)) {
    const spec = keys[key]
    if (!spec) throw new ConfigError(`unknown key "${name}.${key}" in ${path} (known: ${Object.keys(keys).join(', ')})`)
    ;(target as Record<string, unknown>)[spec.field as string] = coerce(`${name}.${key}`, spec.kind, value, false, spec.min, spec.max)
  }
}

/** Applies `<PREFIX><KEY>` environment overrides to `target`. */
function readEnv<T>(prefix: string, env: NodeJS.ProcessEnv, keys: Record<string, { field: keyof T; kind: Kind; min?: number; max?: number }>, target: T) {
  for (const [key, spec] of Object.entries(keys)) {
    const name = `${prefix}${key.toUpperCase()}`
    const value = env[name]
    if (value !== undefined && value !== '') (target as Record<string, unknown>)[spec.field as string] = coerce(name, spec.kind, value, true, spec.min, spec.max)
  }
}

function coerce(key: string, kind: Kind, value: unknown, fromEnv: boolean, min = 0, max = Number.MAX_SAFE_INTEGER): unknown {
  if (kind === 'boolean') {
    if (typeof value === 'boolean') return value
    if (fromEnv && (value === 'true' || value === 'false')) return value === 'true'
    throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(value)}`)
  }
  if (kind === 'integer') {
    const n = fromEnv && typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value
    if (typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max) return n
    throw new ConfigError(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  if (kind === 'domain') {
    if (typeof value === 'string' && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(value)) return value
    throw new ConfigError(`${key} must be a lower-case domain such as service.local, got ${JSON.stringify(value)}`)
  }
  if (typeof value === 'string' && isSupportedCountry(value.toUpperCase())) return value.toUpperCase()
  throw new ConfigError(`${key} must be an ISO 3166-1 alpha-2 country code such as US or TH, got ${JSON.stringify(value)}`)
}

function readYaml(path: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (doc == null) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must hold a mapping`)
  return doc as Record<string, unknown>
}

/**
 * Reads the configuration: defaults, then the YAML file (`HUB_CONFIG`, or `./customer-hub.yaml`
 * when present), then environment overrides (`HUB_CUSTOMER_<KEY>`, e.g.
 * `HUB_CUSTOMER_MAX_ADDRESSES=5`). This is the only place the hub reads `process.env`.
 * A bad key or value throws a `ConfigError` naming it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): HubConfig {
  const customer: CustomerSettings = { ...defaultCustomerSettings }
  const ledgers: LedgerSettings[] = []
  const auth: AuthSettings = { ...defaultAuthSettings }
  const explicit = env.HUB_CONFIG
  const path = explicit ? resolve(cwd, explicit) : resolve(cwd, 'customer-hub.yaml')
  if (explicit && !existsSync(path)) throw new ConfigError(`HUB_CONFIG names ${path}, which does not exist`)
  if (existsSync(path)) {
    const doc = readYaml(path)
    for (const [top, section] of Object.entries(doc)) {
      if (top === 'ledgers') {
        ledgers.push(...readLedgers(section, path))
        continue
      }
      if (top === 'customer') readSection('customer', section, customerKeys, customer, path)
      else if (top === 'auth') readSection('auth', section, authKeys, auth, path)
      else throw new ConfigError(`unknown key "${top}" in ${path} (known: customer, auth, ledgers)`)
    }
  }
  readEnv('HUB_CUSTOMER_', env, customerKeys, customer)
  readEnv('HUB_AUTH_', env, authKeys, auth)
  const secret = env.HUB_SECRET || undefined
  if (secret !== undefined && secret.length < 32) throw new ConfigError('HUB_SECRET must have at least 32 characters')
  return {
    port: coerce('PORT', 'integer', env.PORT ?? 1337, true, 0, 65535) as number,
    host: env.HOST || '127.0.0.1',
    logLevel: env.LOG_LEVEL || 'info',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(cwd, env.HUB_DATA_DIR || '.hub-data'),
    poolSize: coerce('HUB_DB_POOL_SIZE', 'integer', env.HUB_DB_POOL_SIZE ?? 10, true, 1, 200) as number,
    adminToken: env.HUB_ADMIN_TOKEN || undefined,
    customer,
    ledgers,
    auth,
    secret,
    devLogLinks: env.HUB_DEV_LOG_LINKS === 'true',
  }
}

const handlePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/

function readLedgers(section: unknown, path: string): LedgerSettings[] {
  if (section == null) return []
  if (!Array.isArray(section)) throw new ConfigError(`ledgers in ${path} must be a list of { handle, name, allow_negative }`)
  return section.map((entry, n) => {
    const at = `ledgers[${n}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${at} in ${path} must be a mapping`)
    for (const key of Object.keys(entry)) {
      if (!['handle', 'name', 'allow_negative'].includes(key)) throw new ConfigError(`unknown key "${at}.${key}" in ${path} (known: handle, name, allow_negative)`)
    }
    const { handle, name, allow_negative } = entry as Record<string, unknown>
    if (typeof handle !== 'string' || !handlePattern.test(handle)) throw new ConfigError(`${at}.handle must be a lower-case handle such as loyalty-points, got ${JSON.stringify(handle)}`)
    if (name !== undefined && typeof name !== 'string') throw new ConfigError(`${at}.name must be a string`)
    return {
      handle,
      name: (name as string | undefined) ?? handle,
      allowNegative: allow_negative === undefined ? false : (coerce(`${at}.allow_negative`, 'boolean', allow_negative, false) as boolean),
    }
  })
}
