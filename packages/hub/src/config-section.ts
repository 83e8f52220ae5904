import { isSupportedCountry } from 'libphonenumber-js/max'
import { ConfigError } from './errors.js'

/**
 * One section of the configuration file, owned by a module: its defaults, how its YAML value is
 * read, and its environment overrides. A bad key or value throws a `ConfigError` naming it.
 */
export interface ConfigSection<T> {
  /** The top-level YAML key, also the field of `HubConfig` that holds the section. */
  readonly key: string
  defaults(): T
  /** Reads the section's YAML value (`path` names the file, for messages) over `current`. */
  read(value: unknown, current: T, path: string): T
  /** Applies environment overrides over `current`. */
  env?(env: NodeJS.ProcessEnv, current: T): T
}

export type ValueKind = 'boolean' | 'integer' | 'country' | 'domain'
export interface KeySpec<T> {
  field: keyof T
  kind: ValueKind
  min?: number
  max?: number
}

/** Checks and converts one value; from the environment, strings are read as their kind. */
export function coerce(key: string, kind: ValueKind, value: unknown, fromEnv: boolean, min = 0, max = Number.MAX_SAFE_INTEGER): unknown {
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

/**
 * A section of scalar keys (`customer:`, `auth:`), each also settable from the environment as
 * `<envPrefix><KEY>`, e.g. `HUB_CUSTOMER_MAX_ADDRESSES=5`.
 *
 * @example
 * ```ts
 * export const customerSection = keyedSection('customer', 'HUB_CUSTOMER_', { max_addresses: { field: 'maxAddresses', kind: 'integer', min: 1 } }, defaults)
 * ```
 */
export function keyedSection<T extends object>(key: string, envPrefix: string, keys: Record<string, KeySpec<T>>, defaults: T): ConfigSection<T> {
  return {
    key,
    defaults: () => ({ ...defaults }),
    read(section, current, path) {
      if (section == null) return current
      if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`${key} in ${path} must be a mapping`)
      const next = { ...current }
      for (const [name, value] of Object.entries(section)) {
        const spec = keys[name]
        if (!spec) throw new ConfigError(`unknown key "${key}.${name}" in ${path} (known: ${Object.keys(keys).join(', ')})`)
        ;(next as Record<string, unknown>)[spec.field as string] = coerce(`${key}.${name}`, spec.kind, value, false, spec.min, spec.max)
      }
      return next
    },
    env(env, current) {
      const next = { ...current }
      for (const [name, spec] of Object.entries(keys)) {
        const variable = `${envPrefix}${name.toUpperCase()}`
        const value = env[variable]
        if (value !== undefined && value !== '') (next as Record<string, unknown>)[spec.field as string] = coerce(variable, spec.kind, value, true, spec.min, spec.max)
      }
      return next
    },
  }
}
