import { defineModule } from '../module.js'
import { startOutboxLoop } from '../events/outbox-loop.js'
import { createDeliveryWorker, type DeliveryWorker } from './delivery.js'
import { webhookSection } from './settings.js'
import { createWebhookService, type WebhookService } from './webhook-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    webhooks: WebhookService
    /** Fans the outbox out to the subscriptions and delivers (see `delivery.ts`). */
    webhookDelivery: DeliveryWorker
  }
}

/** How often old deliveries are removed (`webhooks.retention_days`). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000

/**
 * Webhook subscriptions, their signing secrets (Standard Webhooks signatures: `signature.ts`) and
 * the delivery of the outbox's events to them (`delivery.ts`).
 */
export const webhooksModule = defineModule({
  name: 'webhooks',
  folder: 'webhooks',
  tables: ['webhooks', 'webhook_deliveries', 'webhook_fanout'],
  migrations: new URL('./migrations/', import.meta.url),
  config: webhookSection,
  services: ({ services, config, clock, log }) => {
    const webhooks = createWebhookService({
      events: services.events,
      secret: config.secret ?? '', // buildApp refuses to start without one
      clock,
    })
    const webhookDelivery = createDeliveryWorker({
      events: services.events,
      wakeup: services.feed.wakeup,
      webhooks,
      settings: config.webhooks,
      secret: config.secret ?? '',
      log,
      onOutcome: (result) => services.metrics.webhookOutcome(result),
    })
    return { webhooks, webhookDelivery }
  },
  handlers: ({ webhooks, webhookDelivery }) => ({
    createWebhook: async ({ tx, body }) => webhooks.create(tx, body),
    listWebhooks: async ({ db }) => ({ data: await webhooks.list(db) }),
    getWebhook: async ({ db, params }) => webhooks.get(db, params.id),
    updateWebhook: async ({ tx, params, body }) => webhooks.update(tx, params.id, body),
    deleteWebhook: async ({ tx, params }) => {
      await webhooks.remove(tx, params.id)
      return { deleted: true as const, id: params.id }
    },
    rotateWebhookSecret: async ({ tx, params }) => webhooks.rotateSecret(tx, params.id),
    listWebhookDeliveries: async ({ db, params, query }) => webhookDelivery.list(db, params.id, query),
    replayWebhook: async ({ tx, params, body }) => ({ replayed: await webhookDelivery.replay(tx, params.id, body.from) }),
    testWebhook: async ({ tx, params }) => ({ eventId: await webhookDelivery.test(tx, params.id) }),
  }),
  async start({ db, config, services, log, onClosing, background }) {
    if (!background) return
    services.metrics.observeOutboxLag(() => services.webhookDelivery.lag(db))
    let pruning: Promise<unknown> = Promise.resolve()
    const pruner = setInterval(() => {
      pruning = services.webhookDelivery.prune(db).catch((err: unknown) => log.error({ err }, 'removing old webhook deliveries failed; retried at the next interval'))
    }, PRUNE_INTERVAL_MS)
    pruner.unref()
    const stopPruning = async () => {
      clearInterval(pruner)
      await pruning
    }
    if (!config.webhooks.deliver) return stopPruning
    const worker = services.webhookDelivery
    const loop = startOutboxLoop({ name: 'webhooks', wakeup: services.feed.wakeup, idleMs: config.webhooks.pollIntervalMs, log, step: () => worker.step(db, () => loop.nudge()) })
    onClosing(() => void loop.stop())
    return async () => {
      await loop.stop()
      await worker.drain()
      await stopPruning()
    }
  },
})
