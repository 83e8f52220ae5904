import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { connect, nanos, NatsError, type JetStreamClient, type NatsConnection } from 'nats'
import type { FastifyBaseLogger } from 'fastify'
import type { Executor } from '../db/executor.js'
import type { EventService } from '../events/event-store.js'
import type { NatsSettings } from './settings.js'

/** Events read and published per step. */
const BATCH = 200
/**
 * How long the stream remembers a message id. A process that dies after publishing and before
 * moving the cursor is taken over within its lease (60 s at most), and the events it published
 * are published again well inside this window, so JetStream drops them.
 */
export const DUPLICATE_WINDOW_MS = 10 * 60_000
/** A JetStream answer later than this fails the publish (the step is tried again). */
const ACK_TIMEOUT_MS = 5000
/** Waits after a failed connection or publish: doubling from the first to the last. */
const BACKOFF_MS = [500, 30_000] as const

export interface NatsPublisher {
  /** One step of the publishing loop: answers whether more events wait at once. */
  step(db: Executor): Promise<boolean>
  /** The age in seconds of the oldest event the stream has not been given (0 when none), for the metrics. */
  lag(db: Executor): Promise<Array<{ sink: string; seconds: number }>>
  /** Gives the lease up (another process takes over at once) and closes the connection. */
  close(db: Executor): Promise<void>
}

/**
 * Publishes every event of the outbox, in feed order, to the JetStream stream of `settings`: the
 * event as the feed answers it (its JSON) to `<subject_prefix>.<type>`, with the header
 * `Nats-Msg-Id` = the event id.
 *
 * Rules it keeps:
 * - **One publisher per stream** over every hub process: the one holding the lease of the
 *   stream's `nats_cursors` row. Each step takes or renews it in one guarded statement, reads the
 *   next events after the cursor with `events.read` (only what committed below the oldest running
 *   transaction, so nothing that commits late is skipped), publishes them one by one awaiting each
 *   acknowledgement, and then moves the cursor `WHERE lease_owner` is this process.
 * - **At least once, kept once by JetStream**: a process that dies between publishing and moving
 *   the cursor is taken over from the committed cursor once its lease runs out; what it published
 *   is published again with the same ids inside the duplicate window and dropped.
 * - **In order**: each publish waits for the previous one's acknowledgement, in feed order, so a
 *   customer's events are in the stream in the order they committed. Two publishers overlapping
 *   (one outlived its lease) keep that too: each event is stored at its first arrival, and each
 *   publisher sends in order after the previous arrived.
 * - A step stops publishing once half its lease has passed and moves the cursor as far as it got.
 * - A NATS server that is down or refuses fails the step quietly: logged once per outage, tried
 *   again after a wait that doubles up to 30 s; nothing else in the hub waits for it.
 *
 * @example
 * ```ts
 * const publisher = createNatsPublisher({ settings: config.events.nats, events: services.events, log })
 * const loop = startOutboxLoop({ name: 'nats', wakeup: services.feed.wakeup, idleMs: 1000, log, step: () => publisher.step(db) })
 * ```
 */
export function createNatsPublisher(deps: { settings: NatsSettings; events: EventService; log: FastifyBaseLogger }): NatsPublisher {
  const { settings, events } = deps
  const log = deps.log.child({ worker: 'nats', stream: settings.stream })
  const owner = `proc_${randomBytes(9).toString('base64url')}`
  const leaseMs = settings.leaseSeconds * 1000
  let connection: { nc: NatsConnection; js: JetStreamClient } | undefined
  let connecting: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined
  let failures = 0
  let retryAt = 0
  let closed = false

  async function open(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    // once connected, the client reconnects by itself for as long as the hub runs
    const nc = await connect({ servers: settings.url!, name: 'customer-hub', timeout: 2000, maxReconnectAttempts: -1, reconnectTimeWait: 1000 })
    try {
      await ensureStream(nc)
    } catch (err) {
      await nc.close()
      throw err
    }
    void nc.closed().then(() => {
      if (connection?.nc === nc) connection = undefined
    })
    log.info({ server: nc.getServer() }, 'publishing events to NATS JetStream')
    return { nc, js: nc.jetstream() }
  }

  /**
   * Makes the stream with the prefix's subjects when it is missing. An existing stream keeps its
   * settings, except that the prefix's subjects are added if it lacks them and a duplicate window
   * shorter than ours is lengthened (both needed for what we publish to be kept once).
   */
  async function ensureStream(nc: NatsConnection): Promise<void> {
    const jsm = await nc.jetstreamManager()
    const subjects = `${settings.subjectPrefix}.>`
    let info
    try {
      info = await jsm.streams.info(settings.stream)
    } catch (err) {
      if (!(err instanceof NatsError && err.api_error?.err_code === 10059)) throw err
      await jsm.streams.add({ name: settings.stream, subjects: [subjects], duplicate_window: nanos(DUPLICATE_WINDOW_MS) })
      log.info({ subjects }, 'made the NATS stream')
      return
    }
    const has = info.config.subjects ?? []
    const change: { subjects?: string[]; duplicate_window?: number } = {}
    if (!has.includes(subjects)) change.subjects = [...has, subjects]
    if ((info.config.duplicate_window ?? 0) < nanos(DUPLICATE_WINDOW_MS)) change.duplicate_window = nanos(DUPLICATE_WINDOW_MS)
    if (change.subjects || change.duplicate_window) {
      await jsm.streams.update(settings.stream, { ...info.config, ...change })
      log.info({ change }, 'updated the NATS stream')
    }
  }

  async function connected(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    if (connection) return connection
    connecting ??= open().finally(() => {
      connecting = undefined
    })
    connection = await connecting
    return connection
  }

  /** Takes or renews the stream's lease; answers the cursor, or undefined when another process holds it. */
  async function claim(db: Executor): Promise<string | undefined> {
    const { rows } = await sql<{ position: string }>`
      INSERT INTO nats_cursors (stream, lease_owner, lease_until)
      VALUES (${settings.stream}, ${owner}, now() + make_interval(secs => ${settings.leaseSeconds}))
      ON CONFLICT (stream) DO UPDATE SET lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until
      WHERE nats_cursors.lease_owner = ${owner} OR nats_cursors.lease_until IS NULL OR nats_cursors.lease_until < now()
      RETURNING position::text AS position`.execute(db)
    return rows[0]?.position
  }

  async function advance(db: Executor, from: string, to: string): Promise<void> {
    if (to === from) return
    await sql`UPDATE nats_cursors SET position = ${to}::bigint WHERE stream = ${settings.stream} AND lease_owner = ${owner} AND position < ${to}::bigint`.execute(db)
  }

  function failed(err: unknown): void {
    failures++
    retryAt = Date.now() + Math.min(BACKOFF_MS[1], BACKOFF_MS[0] * 2 ** (failures - 1))
    // one line per outage, then quiet until it ends
    if (failures === 1) log.warn({ err, server: settings.url }, 'cannot publish events to NATS; trying again until it answers')
  }

  return {
    async step(db) {
      if (closed || Date.now() < retryAt) return false
      let js: JetStreamClient
      try {
        js = (await connected()).js
      } catch (err) {
        failed(err)
        return false
      }
      const claimedAt = Date.now()
      const cursor = await claim(db)
      if (cursor === undefined) return false
      const page = await events.read(db, cursor, BATCH)
      let published = cursor
      let all = true
      try {
        for (const event of page.data) {
          if (closed || Date.now() - claimedAt > leaseMs / 2) {
            all = false
            break
          }
          await js.publish(`${settings.subjectPrefix}.${event.type}`, JSON.stringify(event), { msgID: event.id, timeout: ACK_TIMEOUT_MS })
          published = event.sequence
        }
      } catch (err) {
        await advance(db, cursor, published)
        failed(err)
        return false
      }
      if (failures > 0) log.info('publishing events to NATS again')
      failures = 0
      await advance(db, cursor, all ? page.nextAfter : published)
      return !all || page.data.length === BATCH
    },

    async lag(db) {
      const row = await db.selectFrom('nats_cursors').select(sql<string>`position::text`.as('position')).where('stream', '=', settings.stream).executeTakeFirst()
      const oldest = (await events.read(db, row?.position ?? '0', 1)).data[0]
      return [{ sink: `nats:${settings.stream}`, seconds: oldest ? Math.max(0, (Date.now() - Date.parse(oldest.createdAt)) / 1000) : 0 }]
    },

    async close(db) {
      closed = true
      await sql`UPDATE nats_cursors SET lease_owner = NULL, lease_until = NULL WHERE stream = ${settings.stream} AND lease_owner = ${owner}`.execute(db).catch((err) => log.warn({ err }, 'could not give the NATS lease up'))
      const c = connection ?? (await connecting?.catch(() => undefined))
      connection = undefined
      await c?.nc.close().catch(() => undefined)
    },
  }
}
