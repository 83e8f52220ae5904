import type { FastifyInstance, FastifyRequest } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { SyncResult } from '@his-her/contract'
import type { HubDatabase } from '../db/create-database.js'

declare module '../module.js' {
  interface Services {
    metrics: HubMetrics
  }
}

/** The route label of a request that matched no route (404s, malformed URLs): one value, never the URL. */
export const unmatchedRoute = 'unmatched'

/** How a sync ended: a new customer, or the one an identifier matched (and customers it joined into it). */
export interface SyncOutcome {
  outcome: 'created' | 'matched' | 'joined'
  /** The rule that found the customer; `none` when one was created. */
  rule: 'platform' | 'email' | 'phone' | 'none'
}

export interface HubMetrics {
  /**
   * Notes the outcome of a sync for the request that made it. Called inside the request's
   * transaction, which may run again or roll back: the count moves only when the request has
   * answered with success (after the commit), once per request, with the outcome of the last run.
   * A replayed Idempotency-Key answer (its run rolled back) counts none.
   */
  syncAnswered(request: FastifyRequest, result: Pick<SyncResult, 'created' | 'matchedBy' | 'joined'>): void
  /** Reports the PostgreSQL pool's connections (total, idle, waiting) at each scrape. */
  observePool(database: HubDatabase): void
  /** Counts the outcome of one webhook delivery attempt. */
  webhookOutcome(result: 'succeeded' | 'retrying' | 'failed' | 'gone'): void
  /**
   * Adds a source of outbox lag: at each scrape it gives, per sink (`webhook:<id>`, `nats:<stream>`),
   * the age in seconds of the oldest event that sink has not yet been given (0 when none waits).
   */
  observeOutboxLag(source: () => Promise<Array<{ sink: string; seconds: number }>>): void
  /** Everything in the Prometheus text format. */
  text(): Promise<string>
  readonly contentType: string
}

// The process metrics (CPU, memory, event loop, GC) belong to the process, not to a hub app, and
// collecting them starts monitors that are never stopped: one registry for them per process,
// made on first use. Everything else lives in the registry of each app (tests build many).
let processRegistry: Registry | undefined
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * The metrics of one hub app, in a registry of its own (never prom-client's global one), with
 * the hooks that count every request: one counter increment and one histogram observation of
 * the time Fastify measured already, nothing more per request.
 *
 * @example
 * ```ts
 * const metrics = createHubMetrics(app)
 * metrics.observePool(database)
 * const body = await metrics.text()
 * ```
 */
export function createHubMetrics(app: FastifyInstance): HubMetrics {
  const registry = new Registry()
  const requests = new Counter({
    name: 'hub_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'hub_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const syncs = new Counter({
    name: 'hub_sync_total',
    help: 'Syncs answered with success, by outcome (created, matched, joined) and the rule that matched (platform, email, phone; none when created).',
    labelNames: ['outcome', 'rule'] as const,
    registers: [registry],
  })
  const pendingSyncs = new WeakMap<FastifyRequest, SyncOutcome>()
  const webhookAttempts = new Counter({
    name: 'hub_webhook_deliveries_total',
    help: 'Webhook delivery attempts made by this process, by result: succeeded, retrying (failed, tried again later), failed (for good), gone (410: the subscription was disabled).',
    labelNames: ['result'] as const,
    registers: [registry],
  })
  const lagSources: Array<() => Promise<Array<{ sink: string; seconds: number }>>> = []
  // read before the registry is collected (not in a collect of its own): its queries must not
  // overlap the pool's reading, which would count them as waiting
  const outboxLag = new Gauge({
    name: 'hub_outbox_lag_seconds',
    help: 'Age of the oldest event a sink (a webhook subscription, a NATS stream) has not yet been given; 0 when it is up to date.',
    labelNames: ['sink'] as const,
    registers: [registry],
  })

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? unmatchedRoute
    const status = reply.statusCode
    requests.inc({ route, method: request.method, status })
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000)
    // a replayed answer's run found the key taken and rolled back: that sync was counted once already
    const sync = pendingSyncs.get(request)
    if (sync && status < 300 && reply.getHeader('idempotent-replayed') !== 'true') syncs.inc({ outcome: sync.outcome, rule: sync.rule })
  })

  return {
    contentType: registry.contentType,
    syncAnswered(request, result) {
      const rule = result.matchedBy ?? 'none'
      const outcome = result.created ? 'created' : result.joined.length > 0 ? 'joined' : 'matched'
      pendingSyncs.set(request, { outcome, rule })
    },
    observePool(database) {
      const pool = database.poolUse
      if (!pool) return
      new Gauge({
        name: 'hub_db_pool_connections',
        help: 'PostgreSQL connections of the pool: total open, idle, and requests waiting for one.',
        labelNames: ['state'] as const,
        registers: [registry],
        collect() {
          const use = pool()
          this.set({ state: 'total' }, use.total)
          this.set({ state: 'idle' }, use.idle)
          this.set({ state: 'waiting' }, use.waiting)
        },
      })
    },
    webhookOutcome(result) {
      webhookAttempts.inc({ result })
    },
    observeOutboxLag(source) {
      lagSources.push(source)
    },
    async text() {
      const lags = await Promise.all(lagSources.map((source) => source()))
      outboxLag.reset()
      for (const { sink, seconds } of lags.flat()) outboxLag.set({ sink }, seconds)
      return `${await registry.metrics()}\n${await processMetrics().metrics()}`
    },
  }
}
