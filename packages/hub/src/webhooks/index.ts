import { defineModule } from '../module.js'
import { createWebhookService, type WebhookService } from './webhook-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    webhooks: WebhookService
  }
}

/** Webhook subscriptions and their signing secrets (Standard Webhooks signatures: `signature.ts`). */
export const webhooksModule = defineModule({
  name: 'webhooks',
  folder: 'webhooks',
  tables: ['webhooks'],
  migrations: new URL('./migrations/', import.meta.url),
  services: ({ services, config, clock }) => ({
    webhooks: createWebhookService({
      events: services.events,
      secret: config.secret ?? '', // buildApp refuses to start without one
      clock,
    }),
  }),
  handlers: ({ webhooks }) => ({
    createWebhook: async ({ tx, body }) => webhooks.create(tx, body),
    listWebhooks: async ({ db }) => ({ data: await webhooks.list(db) }),
    getWebhook: async ({ db, params }) => webhooks.get(db, params.id),
    updateWebhook: async ({ tx, params, body }) => webhooks.update(tx, params.id, body),
    deleteWebhook: async ({ tx, params }) => {
      await webhooks.remove(tx, params.id)
      return { deleted: true as const, id: params.id }
    },
    rotateWebhookSecret: async ({ tx, params }) => webhooks.rotateSecret(tx, params.id),
  }),
})
