import type { FastifyBaseLogger } from 'fastify'
import { sql } from 'kysely'
import type { EventListQuery, EventPage } from '@his-her/contract'
import type { Executor } from '../db/executor.js'
import type { HubDatabase } from '../db/create-database.js'
import { eventTypesOf, type EventService } from './event-store.js'
import { createFeedWakeup } from './feed-wakeup.js'

/** The channel the database notifies when a transaction that wrote events commits (migration 0022). */
export const EVENTS_CHANNEL = 'hub_events'

/**
 * How often a waiting reader reads again without a notification: the safety net for a lost
 * notification (a listening connection that was down), and what shows an event that was
 * committed while an older transaction still ran (its notification came while it was not yet
 * visible).
 */
export const RECHECK_MS = 2000

/**
 * The feed as `GET /events` reads it: a read with its filters and, with `wait`, a long poll.
 *
 * A waiting reader reads, and when nothing (matching) is visible sleeps until events are
 * committed — in this process or any other: the database notifies on `hub_events` and one
 * listening connection per process wakes every sleeper — or RECHECK_MS passes, then reads again
 * from where the last read ended, until something matches, `wait` is up, the caller went away or
 * the hub shuts down. It holds no connection and no transaction while it sleeps.
 */
export function createFeed(events: EventService) {
  const wakeup = createFeedWakeup()
  return {
    /** Sleeping readers now (for tests and metrics). */
    get waiting(): number {
      return wakeup.sleeping
    },

    /**
     * Answers `GET /events`: the page after `query.after`, waiting up to `query.wait` seconds for
     * one that is not empty. An empty page after the wait has `nextAfter` past every event it read.
     */
    async read(db: Executor, query: EventListQuery, options: { signal?: AbortSignal; log?: FastifyBaseLogger } = {}): Promise<EventPage> {
      const { signal, log } = options
      const filter = {
        ...(query.type !== undefined ? { types: eventTypesOf(Array.isArray(query.type) ? query.type : [query.type]) } : {}),
        ...(query.customerId !== undefined ? { customerId: query.customerId } : {}),
      }
      const limit = query.limit ?? 100
      const deadline = Date.now() + (query.wait ?? 0) * 1000
      let after = query.after ?? '0'
      for (;;) {
        const version = wakeup.version
        const page = await events.read(db, after, limit, filter)
        const left = deadline - Date.now()
        if (page.data.length > 0 || left <= 0 || wakeup.closed || signal?.aborted) return page
        after = page.nextAfter
        log?.debug({ after }, 'feed reader waiting')
        const reason = await wakeup.sleep(version, Math.min(left, RECHECK_MS), signal)
        log?.debug({ reason }, 'feed reader woken')
        if (reason === 'closed' || reason === 'aborted') return page
      }
    },

    /** Events were committed: wakes the waiting readers. */
    notify: () => wakeup.notify(),

    /** What wakes the readers: the workers that carry events out (webhooks, NATS) sleep on it too. */
    wakeup,

    /**
     * Listens for the database's notifications until the function it gives is called; readers
     * read again on every notification of this schema, and when listening starts again after a
     * lost connection (what was sent meanwhile is lost).
     */
    async listen(database: HubDatabase, log?: FastifyBaseLogger): Promise<() => Promise<void>> {
      // the schema of this hub's tables, learnt once the database answers; until then every notification counts
      let schema: string | undefined
      const learnSchema = () =>
        void sql<{ schema: string }>`SELECT current_schema() AS schema`
          .execute(database.db)
          .then(({ rows }) => (schema = rows[0]?.schema))
          .catch(() => {})
      return database.listen(
        EVENTS_CHANNEL,
        (payload) => {
          if (schema === undefined || payload === schema) wakeup.notify()
        },
        () => {
          log?.info({ channel: EVENTS_CHANNEL }, 'listening for events')
          if (schema === undefined) learnSchema()
          wakeup.notify()
        },
      )
    },

    /** The hub shuts down: waiting readers answer now, and no reader waits any more. */
    close: () => wakeup.close(),
  }
}
export type Feed = ReturnType<typeof createFeed>
