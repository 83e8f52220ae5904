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
      }),
    ]
  },
}

declare module '../config.js' {
  interface Settings {
    ledgers: LedgerSettings[]
  }
}
