import { defineModule } from '../module.js'
import { createEventService, type EventService } from './event-store.js'
import { createFeed, type Feed } from './feed.js'
import { redactEvents } from './payload-redaction.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    events: EventService
    /** The feed as `GET /events` reads it, with its waiting readers. */
    feed: Feed
    /** An erase's part here: the person's data rewritten out of the outbox. */
    eventRedaction: { redact: typeof redactEvents }
  }
}

/** The outbox of every change and the feed that reads it. */
export const eventsModule = defineModule({
  name: 'events',
  folder: 'events',
  tables: ['events'],
  migrations: new URL('./migrations/', import.meta.url),
  services: () => {
    const events = createEventService()
    return { events, feed: createFeed(events), eventRedaction: { redact: redactEvents } }
  },
  handlers: ({ feed }) => ({
    listEvents: async ({ db, query, request, reply }) => {
      // a caller that goes away stops its wait
      const gone = new AbortController()
      const onClose = () => gone.abort()
      reply.raw.once('close', onClose)
      try {
        return await feed.read(db, query, { signal: gone.signal, log: request.log })
      } finally {
        reply.raw.off('close', onClose)
      }
    },
  }),
  async start({ database, services, log, onClosing, background }) {
    if (!background) return
    onClosing(() => services.feed.close())
    const unlisten = await services.feed.listen(database, log)
    return async () => {
      services.feed.close()
      await unlisten()
    }
  },
})
