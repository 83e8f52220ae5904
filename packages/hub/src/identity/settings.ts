import type { CountryCode } from 'libphonenumber-js/max'
import { coerce, type ConfigSection } from '../config-section.js'
import { ConfigError } from '../errors.js'

/** The `identity:` section of the configuration file. */
export interface IdentitySettings {
  /**
   * `safe` (default): a sync whose identifiers lead to several customers joins them when that
   * contradicts nothing (docs/identity.md, "Joining"). `off`: it never does; they are reported as
   * conflicts for an admin.
   */
  autoMerge: 'safe' | 'off'
  /** Per platform component: the country its phone numbers without `+` are read in. */
  components: Record<string, { defaultCountry: CountryCode }>
}

export const defaultIdentitySettings: IdentitySettings = { autoMerge: 'safe', components: {} }

const componentPattern = /^[a-z0-9][a-z0-9._-]{0,99}$/

function autoMerge(at: string, value: unknown): 'safe' | 'off' {
  if (value === 'safe' || value === 'off') return value
  throw new ConfigError(`${at} must be safe or off, got ${JSON.stringify(value)}`)
}

function component(at: string, name: string): string {
  if (!componentPattern.test(name)) throw new ConfigError(`${at}: "${name}" is not a platform component (lower-case letters, digits, . _ -)`)
  return name
}

/**
 * ```yaml
 * identity:
 *   auto_merge: safe            # or off
 *   components:
 *     identity.thai-store: { default_country: TH }
 * ```
 * Environment: `HUB_IDENTITY_AUTO_MERGE=off`,
 * `HUB_IDENTITY_COMPONENT_COUNTRIES=identity.thai-store=TH,identity.us-shop=US`.
 */
export const identitySection: ConfigSection<IdentitySettings> = {
  key: 'identity',
  defaults: () => ({ ...defaultIdentitySettings, components: {} }),
  read(section, current, path) {
    if (section == null) return current
    if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`identity in ${path} must be a mapping`)
    const next: IdentitySettings = { ...current, components: { ...current.components } }
    for (const [key, value] of Object.entries(section)) {
      if (key === 'auto_merge') next.autoMerge = autoMerge('identity.auto_merge', value)
      else if (key === 'components') {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`identity.components in ${path} must be a mapping of component to { default_country }`)
        for (const [name, entry] of Object.entries(value)) {
          const at = `identity.components.${component(`identity.components in ${path}`, name)}`
          if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${at} in ${path} must be a mapping { default_country }`)
          const { default_country, ...rest } = entry as Record<string, unknown>
          if (Object.keys(rest).length > 0) throw new ConfigError(`unknown key "${at}.${Object.keys(rest)[0]}" in ${path} (known: default_country)`)
          next.components[name] = { defaultCountry: coerce(`${at}.default_country`, 'country', default_country, false) as CountryCode }
        }
      } else throw new ConfigError(`unknown key "identity.${key}" in ${path} (known: auto_merge, components)`)
    }
    return next
  },
  env(env, current) {
    const next: IdentitySettings = { ...current, components: { ...current.components } }
    if (env.HUB_IDENTITY_AUTO_MERGE) next.autoMerge = autoMerge('HUB_IDENTITY_AUTO_MERGE', env.HUB_IDENTITY_AUTO_MERGE)
    const list = env.HUB_IDENTITY_COMPONENT_COUNTRIES
    if (list) {
      for (const pair of list.split(',').map((p) => p.trim()).filter(Boolean)) {
        const [name, country, ...extra] = pair.split('=')
        if (!name || !country || extra.length > 0) throw new ConfigError(`HUB_IDENTITY_COMPONENT_COUNTRIES must be component=COUNTRY pairs separated by commas, got "${pair}"`)
        next.components[component('HUB_IDENTITY_COMPONENT_COUNTRIES', name)] = { defaultCountry: coerce('HUB_IDENTITY_COMPONENT_COUNTRIES', 'country', country, true) as CountryCode }
      }
    }
    return next
  },
}

/** The country a platform's phone numbers without `+` are read in: the request's, the component's, then the hub's. */
export function phoneCountry(settings: IdentitySettings, fallback: CountryCode, componentName: string | undefined, requested: CountryCode | undefined): CountryCode {
  return requested ?? (componentName ? settings.components[componentName]?.defaultCountry : undefined) ?? fallback
}

declare module '../config.js' {
  interface Settings {
    identity: IdentitySettings
  }
}
