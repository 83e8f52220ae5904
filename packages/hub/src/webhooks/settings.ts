import { ConfigError } from '../errors.js'
import { keyedSection, type ConfigSection } from '../config-section.js'

/** The `webhooks:` section: how events are delivered to the subscriptions. */
export interface WebhookSettings {
  /** `deliver` (`HUB_WEBHOOKS_DELIVER`), default true: this process runs the delivery worker. */
  deliver: boolean
  /**
   * `retry_schedule` (`HUB_WEBHOOKS_RETRY_SCHEDULE`, seconds separated by commas): the wait before
   * each attempt, the first usually 0. Default as Svix's: at once, 5 s, 5 min, 30 min, 2 h, 5 h,
   * 10 h, 10 h. Each wait after the first is spread by ±20 % so that many retries do not land
   * together. After the last attempt the delivery has failed for good.
   */
  retrySchedule: number[]
  /** `timeout` (`HUB_WEBHOOKS_TIMEOUT`), seconds, default 15: an answer later than this is a failed attempt. */
  timeout: number
  /** `disable_after` (`HUB_WEBHOOKS_DISABLE_AFTER`), seconds, default 5 days: a subscription failing for this long without one success is disabled. */
  disableAfter: number
  /** `concurrency` (`HUB_WEBHOOKS_CONCURRENCY`), default 32: deliveries in flight per process. */
  concurrency: number
  /** `per_endpoint` (`HUB_WEBHOOKS_PER_ENDPOINT`), default 8: deliveries in flight to one subscription, over every process. */
  perEndpoint: number
  /**
   * `poll_interval_ms` (`HUB_WEBHOOKS_POLL_INTERVAL_MS`), default 1000: how often an idle worker
   * looks for retries that fell due and claims that ran out. New events wake it at once.
   */
  pollIntervalMs: number
  /**
   * `retention_days` (`HUB_WEBHOOKS_RETENTION_DAYS`), default 30: deliveries that succeeded or
   * failed are kept this long after, then removed (the events stay in the feed). A replay reaches
   * back only this far.
   */
  retentionDays: number
}

export const defaultWebhookSettings: WebhookSettings = {
  deliver: true,
  retrySchedule: [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000],
  timeout: 15,
  disableAfter: 5 * 24 * 3600,
  concurrency: 32,
  perEndpoint: 8,
  pollIntervalMs: 1000,
  retentionDays: 30,
}

const MAX_WAIT = 7 * 24 * 3600

/** A retry schedule from YAML (a list of numbers) or the environment (numbers separated by commas). */
function readSchedule(name: string, value: unknown): number[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))) : value
  if (!Array.isArray(list) || list.length < 1 || list.length > 30) throw new ConfigError(`${name} must be a list of 1 to 30 waits in seconds, e.g. [0, 5, 300], got ${JSON.stringify(value)}`)
  for (const n of list) {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_WAIT) throw new ConfigError(`${name} must hold waits from 0 to ${MAX_WAIT} seconds, got ${JSON.stringify(value)}`)
  }
  return list as number[]
}

const scalars = keyedSection<WebhookSettings>(
  'webhooks',
  'HUB_WEBHOOKS_',
  {
    deliver: { field: 'deliver', kind: 'boolean' },
    timeout: { field: 'timeout', kind: 'integer', min: 1, max: 300 },
    disable_after: { field: 'disableAfter', kind: 'integer', min: 60, max: 90 * 24 * 3600 },
    concurrency: { field: 'concurrency', kind: 'integer', min: 1, max: 1000 },
    per_endpoint: { field: 'perEndpoint', kind: 'integer', min: 1, max: 1000 },
    poll_interval_ms: { field: 'pollIntervalMs', kind: 'integer', min: 10, max: 60_000 },
    retention_days: { field: 'retentionDays', kind: 'integer', min: 1, max: 3650 },
  },
  defaultWebhookSettings,
)

export const webhookSection: ConfigSection<WebhookSettings> = {
  key: 'webhooks',
  defaults: () => ({ ...defaultWebhookSettings, retrySchedule: [...defaultWebhookSettings.retrySchedule] }),
  read(section, current, path) {
    if (section == null) return current
    if (typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`webhooks in ${path} must be a mapping`)
    const { retry_schedule, ...rest } = section as Record<string, unknown>
    const next = scalars.read(rest, current, path)
    return retry_schedule === undefined ? next : { ...next, retrySchedule: readSchedule('webhooks.retry_schedule', retry_schedule) }
  },
  env(env, current) {
    const next = scalars.env!(env, current)
    const schedule = env.HUB_WEBHOOKS_RETRY_SCHEDULE
    return schedule ? { ...next, retrySchedule: readSchedule('HUB_WEBHOOKS_RETRY_SCHEDULE', schedule) } : next
  },
}

declare module '../config.js' {
  interface Settings {
    webhooks: WebhookSettings
  }
}

