import { isIP } from 'node:net'
import type { ConfigSection } from '../config-section.js'
import { ConfigError } from '../errors.js'

/**
 * Which proxies in front of the hub are trusted to say who the client is (`X-Forwarded-For`):
 * `false` (default) none — the client is the connection's address; `true` every one; a number,
 * that many hops; or a list of addresses and CIDR ranges (`10.0.0.0/8`) and the names
 * `loopback`, `linklocal`, `uniquelocal`. The client address is what the per-address limits
 * count (sign-in, failed tokens, reset requests), so behind a load balancer set it to the
 * balancer's addresses, or every client is one address.
 */
export type TrustProxy = boolean | number | string[]

/** The `http:` section of the configuration file. */
export interface HttpSettings {
  /** `trust_proxy` (`HUB_TRUST_PROXY`), default `false`. See {@link TrustProxy}. */
  trustProxy: TrustProxy
}

export const defaultHttpSettings: HttpSettings = { trustProxy: false }

const names = new Set(['loopback', 'linklocal', 'uniquelocal'])

function proxyAddress(at: string, entry: string): string {
  const value = entry.trim()
  if (names.has(value)) return value
  const [address, prefix, ...rest] = value.split('/')
  const family = isIP(address ?? '')
  const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32))
  if (family === 0 || !prefixOk || rest.length > 0) {
    throw new ConfigError(`${at}: "${value}" is not an address, a CIDR range (10.0.0.0/8) or one of loopback, linklocal, uniquelocal`)
  }
  return value
}

/** Reads a trust_proxy value: a boolean, a hop count, or addresses (a list, or one string separated by commas). */
function trustProxy(at: string, value: unknown, fromEnv: boolean): TrustProxy {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 100) return value
  if (typeof value === 'string') {
    const text = value.trim()
    if (fromEnv && (text === 'true' || text === 'false')) return text === 'true'
    if (/^\d+$/.test(text) && Number(text) <= 100) return Number(text)
    const list = text.split(',').map((s) => s.trim()).filter(Boolean)
    if (list.length > 0) return list.map((entry) => proxyAddress(at, entry))
  }
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value.map((entry: string) => proxyAddress(at, entry))
  throw new ConfigError(`${at} must be true, false, a hop count from 0 to 100, or addresses and CIDR ranges (a list, or separated by commas), got ${JSON.stringify(value)}`)
}

/**
 * ```yaml
 * http:
 *   trust_proxy: 10.0.0.0/8, 192.168.1.7   # or true, false, a hop count, a list
 * ```
 * Environment: `HUB_TRUST_PROXY=10.0.0.0/8,192.168.1.7` (or `true`, `false`, `2`).
 */
export const httpSection: ConfigSection<HttpSettings> = {
  key: 'http',
  defaults: () => ({ ...defaultHttpSettings }),
  read(section, current, path) {
    if (section == null) return current
    if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`http in ${path} must be a mapping`)
    const next = { ...current }
    for (const [key, value] of Object.entries(section)) {
      if (key === 'trust_proxy') next.trustProxy = trustProxy('http.trust_proxy', value, false)
      else throw new ConfigError(`unknown key "http.${key}" in ${path} (known: trust_proxy)`)
    }
    return next
  },
  env(env, current) {
    const value = env.HUB_TRUST_PROXY
    return value === undefined || value === '' ? current : { ...current, trustProxy: trustProxy('HUB_TRUST_PROXY', value, true) }
  },
}

declare module '../config.js' {
  interface Settings {
    http: HttpSettings
  }
}
