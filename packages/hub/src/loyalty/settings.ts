import type { ConfigSection } from '../config-section.js'
import { coerce } from '../config-section.js'
import { ConfigError } from '../errors.js'

/** A points ledger declared under `ledgers:` (`reward-points` always exists). */
export interface LedgerSettings {
  /** Lower-case handle, e.g. `reward-points`. */
  handle: string
  /** Display name. Default: the handle. */
  name: string
  /** Balances may go below zero. Default `false`. */
  allowNegative: boolean
  /** Points earned from an order stay pending this many days (the return window). Default 0. */
  pendingDays: number
  /** Points earned without an explicit expiry expire this many days later; null: never. Default null. */
  expiryDays: number | null
  /** How orders earn points: `points` for every whole `per` minor units of `currency`. Default none. */
  earn: EarnRule[]
}

export interface EarnRule {
  per: number
  points: number
  currency: string
}

/** The settings of a ledger nobody configured (`reward-points` unless declared). */
export const defaultLedger = (handle: string, allowNegative = false): LedgerSettings => ({
  handle,
  name: handle === 'reward-points' ? 'Reward points' : handle,
  allowNegative,
  pendingDays: 0,
  expiryDays: null,
  earn: [],
})

const ledgerKeys = ['handle', 'name', 'allow_negative', 'pending_days', 'expiry_days', 'earn']

function readEarn(value: unknown, at: string, path: string): EarnRule[] {
  if (value === undefined || value === null) return []
  const list = Array.isArray(value) ? value : [value]
  return list.map((rule, n) => {
    const where = Array.isArray(value) ? `${at}[${n}]` : at
    if (typeof rule !== 'object' || rule === null) throw new ConfigError(`${where} in ${path} must be a mapping { per, points, currency }`)
    const { per, points, currency, ...rest } = rule as Record<string, unknown>
    if (Object.keys(rest).length > 0) throw new ConfigError(`unknown key "${where}.${Object.keys(rest)[0]}" in ${path} (known: per, points, currency)`)
    const p = coerce(`${where}.per`, 'integer', per, false, 1) as number
    const q = coerce(`${where}.points`, 'integer', points, false, 1, 1_000_000) as number
    if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) throw new ConfigError(`${where}.currency in ${path} must be an ISO 4217 code such as USD`)
    return { per: p, points: q, currency }
  })
}

function nonNegative(at: string, value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined
  void path
  return coerce(at, 'integer', value, false, 0, 3650) as number
}

const handlePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** The `ledgers:` list of the configuration file. */
export const ledgerSection: ConfigSection<LedgerSettings[]> = {
  key: 'ledgers',
  defaults: () => [],
  read(section, current, path) {
    if (section == null) return current
    if (!Array.isArray(section)) throw new ConfigError(`ledgers in ${path} must be a list of { handle, name, allow_negative }`)
    return [
      ...current,
      ...section.map((entry, n) => {
        const at = `ledgers[${n}]`
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${at} in ${path} must be a mapping`)
        for (const key of Object.keys(entry)) {
          if (!ledgerKeys.includes(key)) throw new ConfigError(`unknown key "${at}.${key}" in ${path} (known: ${ledgerKeys.join(', ')})`)
        }
        const { handle, name, allow_negative, pending_days, expiry_days, earn } = entry as Record<string, unknown>
        if (typeof handle !== 'string' || !handlePattern.test(handle)) throw new ConfigError(`${at}.handle must be a lower-case handle such as loyalty-points, got ${JSON.stringify(handle)}`)
        if (name !== undefined && typeof name !== 'string') throw new ConfigError(`${at}.name must be a string`)
        return {
          handle,
          name: (name as string | undefined) ?? defaultLedger(handle).name,
          allowNegative: allow_negative === undefined ? false : (coerce(`${at}.allow_negative`, 'boolean', allow_negative, false) as boolean),
          pendingDays: nonNegative(`${at}.pending_days`, pending_days, path) ?? 0,
          expiryDays: nonNegative(`${at}.expiry_days`, expiry_days, path) ?? null,
          earn: readEarn(earn, `${at}.earn`, path),
        }
      }),
    ]
  },
}

declare module '../config.js' {
  interface Settings {
    ledgers: LedgerSettings[]
  }
}
