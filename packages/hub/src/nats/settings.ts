import { ConfigError } from '../errors.js'
import { coerce, type ConfigSection } from '../config-section.js'

/** `events.nats`: where every event of the outbox is published (NATS JetStream). */
export interface NatsSettings {
  /** `url` (`HUB_EVENTS_NATS_URL`), e.g. `nats://127.0.0.1:4222`; unset means no publishing. */
  url: string | undefined
  /** `stream` (`HUB_EVENTS_NATS_STREAM`), default `HUB_EVENTS`: the JetStream stream, made at start when missing. */
  stream: string
  /** `subject_prefix` (`HUB_EVENTS_NATS_SUBJECT_PREFIX`), default `hub`: an event is published to `<prefix>.<event type>`. */
  subjectPrefix: string
  /**
   * `lease_seconds` (`HUB_EVENTS_NATS_LEASE_SECONDS`), default 10: how long the process that
   * publishes holds the stream's cursor without renewing it; a process that died is taken over
   * from after this. At most 60: the stream's duplicate window (10 minutes) must be far longer.
   */
  leaseSeconds: number
}

/** The `events:` section: what is done with the outbox's events besides the feed and webhooks. */
export interface EventSettings {
  nats: NatsSettings
}

export const defaultNatsSettings: NatsSettings = { url: undefined, stream: 'HUB_EVENTS', subjectPrefix: 'hub', leaseSeconds: 10 }

// a stream name may not hold whitespace, '.', '*', '>', path separators; a subject token may not hold '.', '*', '>' or whitespace
const streamName = /^[A-Za-z0-9_-]{1,64}$/
const subjectPrefix = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

function readUrl(key: string, value: unknown): string | undefined {
  if (value === null || value === '') return undefined
  if (typeof value === 'string') {
    try {
      const u = new URL(value.includes('://') ? value : `nats://${value}`)
      if (['nats:', 'tls:'].includes(u.protocol) && u.hostname) return value
    } catch {
      // answered below
    }
  }
  throw new ConfigError(`${key} must be a NATS server URL such as nats://127.0.0.1:4222, got ${JSON.stringify(value)}`)
}

function readField(field: keyof NatsSettings, key: string, value: unknown, fromEnv: boolean): unknown {
  if (field === 'url') return readUrl(key, value)
  if (field === 'leaseSeconds') return coerce(key, 'integer', value, fromEnv, 1, 60)
  const pattern = field === 'stream' ? streamName : subjectPrefix
  if (typeof value === 'string' && pattern.test(value)) return value
  throw new ConfigError(
    field === 'stream'
      ? `${key} must be a stream name of letters, digits, - and _ (at most 64), got ${JSON.stringify(value)}`
      : `${key} must be subject tokens of letters, digits, - and _ separated by dots, such as hub or shop.hub, got ${JSON.stringify(value)}`,
  )
}

const natsKeys: Record<string, keyof NatsSettings> = { url: 'url', stream: 'stream', subject_prefix: 'subjectPrefix', lease_seconds: 'leaseSeconds' }

/**
 * The `events:` section. Its one key, `nats:`, is a mapping of its own; each of its keys is also
 * set from the environment as `HUB_EVENTS_NATS_<KEY>`.
 *
 * @example
 * ```yaml
 * events:
 *   nats: { url: nats://127.0.0.1:4222, stream: HUB_EVENTS, subject_prefix: hub }
 * ```
 */
export const eventSection: ConfigSection<EventSettings> = {
  key: 'events',
  defaults: () => ({ nats: { ...defaultNatsSettings } }),
  read(section, current, path) {
    if (section == null) return current
    if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`events in ${path} must be a mapping`)
    const next = { nats: { ...current.nats } }
    for (const [name, value] of Object.entries(section)) {
      if (name !== 'nats') throw new ConfigError(`unknown key "events.${name}" in ${path} (known: nats)`)
      if (value == null) continue
      if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`events.nats in ${path} must be a mapping`)
      for (const [key, v] of Object.entries(value)) {
        const field = natsKeys[key]
        if (!field) throw new ConfigError(`unknown key "events.nats.${key}" in ${path} (known: ${Object.keys(natsKeys).join(', ')})`)
        ;(next.nats as Record<string, unknown>)[field] = readField(field, `events.nats.${key}`, v, false)
      }
    }
    return next
  },
  env(env, current) {
    const next = { nats: { ...current.nats } }
    for (const [key, field] of Object.entries(natsKeys)) {
      const variable = `HUB_EVENTS_NATS_${key.toUpperCase()}`
      const value = env[variable]
      if (value !== undefined && value !== '') (next.nats as Record<string, unknown>)[field] = readField(field, variable, value, true)
    }
    return next
  },
}

declare module '../config.js' {
  interface Settings {
    events: EventSettings
  }
}
