import { defineModule } from '../module.js'
import { startOutboxLoop } from '../events/outbox-loop.js'
import { createNatsPublisher } from './publisher.js'
import { eventSection } from './settings.js'
import './tables.js'

/** How often an idle publisher renews its lease, or looks whether another's ran out. New events wake it at once. */
const IDLE_MS = 1000

/**
 * Publishing the outbox's events to NATS JetStream (`events.nats` in the configuration; off
 * without a URL): every event once, to `<prefix>.<type>`, a customer's in order (see `publisher.ts`).
 */
export const natsModule = defineModule({
  name: 'nats',
  folder: 'nats',
  tables: ['nats_cursors'],
  migrations: new URL('./migrations/', import.meta.url),
  config: eventSection,
  async start({ db, config, services, log, onClosing, background }) {
    const settings = config.events.nats
    if (!settings.url || !background) return
    const publisher = createNatsPublisher({ settings, events: services.events, log })
    services.metrics.observeOutboxLag(() => publisher.lag(db))
    // the server may be down: the loop connects in the background and nothing at start waits for it
    const loop = startOutboxLoop({ name: 'nats', wakeup: services.feed.wakeup, idleMs: Math.min(IDLE_MS, (settings.leaseSeconds * 1000) / 3), log, step: () => publisher.step(db) })
    onClosing(() => void loop.stop())
    return async () => {
      await loop.stop()
      await publisher.close(db)
    }
  },
})
