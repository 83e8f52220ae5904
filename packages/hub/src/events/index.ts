import { defineModule } from '../module.js'
import { createEventService, type EventService } from './event-store.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    events: EventService
  }
}

/** The outbox of every change and the feed that reads it. */
export const eventsModule = defineModule({
  name: 'events',
  folder: 'events',
  tables: ['events'],
  migrations: new URL('./migrations/', import.meta.url),
  services: () => ({ events: createEventService() }),
  handlers: ({ events }) => ({
    listEvents: async ({ db, query }) => events.read(db, query.after ?? '0', query.limit ?? 100),
  }),
})
