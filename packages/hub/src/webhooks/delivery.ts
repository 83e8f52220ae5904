import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import type { HubEvent, WebhookDelivery, WebhookDeliveryQuery } from '@his-her/contract'
import { oneTimeToken } from '../auth/session-service.js'
import type { OneTimePurpose } from '../auth/tables.js'
import type { Executor, Tx } from '../db/executor.js'
import { withTransaction } from '../db/executor.js'
import type { EventService } from '../events/event-store.js'
import type { FeedWakeup } from '../events/feed-wakeup.js'
import { HubError } from '../errors.js'
import { sign } from './signature.js'
import type { WebhookSettings } from './settings.js'
import { matchesEvent, toWebhook, webhookColumns, type WebhookService } from './webhook-service.js'

/** Events the fan-out never sends on its own: a test event goes to the one subscription it was made for. */
const NOT_FANNED_OUT = new Set(['webhook.test'])
/** How many events one fan-out step reads. */
const FANOUT_BATCH = 1000
/** A claim's lease, seconds: twice the timeout and 5 s — the attempt and the time to record its outcome — before another process may take it over. */
const leaseSeconds = (timeout: number) => 2 * timeout + 5
/** The longest `Retry-After` honoured, in seconds. */
const MAX_RETRY_AFTER_S = 24 * 3600

/** An event that asks for a one-time token to be sent, and the token's purpose. */
function tokenPurpose(event: HubEvent): OneTimePurpose | undefined {
  switch (event.type) {
    case 'customer.verification_requested':
      return (event.payload as { registration?: boolean }).registration ? 'register' : 'verify_email'
    case 'customer.password_reset_requested':
      return 'password_reset'
    case 'customer.email_change_requested':
      return 'change_email'
    case 'customer.phone_change_requested':
      return 'change_phone'
    default:
      return undefined
  }
}

/**
 * The body a subscription is sent: the event as the feed carries it. A subscription allowed to
 * receive secrets (a mailer) also gets the one-time token an event asks to be sent, derived now
 * from the event's `tokenId` under the hub's secret — it is stored nowhere, and no other
 * subscription, feed reader or log ever sees it.
 */
export function deliveryBody(event: HubEvent, allowSecrets: boolean, hubSecret: string): string {
  const purpose = allowSecrets ? tokenPurpose(event) : undefined
  const tokenId = (event.payload as { tokenId?: string }).tokenId
  if (!purpose || !tokenId) return JSON.stringify(event)
  return JSON.stringify({ ...event, payload: { ...event.payload, token: oneTimeToken(hubSecret, tokenId, purpose) } })
}

/** The wait before attempt `attempt + 1` (1-based `attempt` just failed), seconds: the schedule's, spread by ±20 %. */
export function retryDelay(schedule: readonly number[], attempt: number, random = Math.random): number {
  const base = schedule[attempt]!
  return base * (0.8 + 0.4 * random())
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number): number | undefined {
  if (!header) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), MAX_RETRY_AFTER_S)
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return undefined
  return Math.min(Math.max(0, (at - now) / 1000), MAX_RETRY_AFTER_S)
}

interface Claimed {
  webhook_id: string
  event_id: string
  attempts: number
}

/** How one attempt ended. */
type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string | null; retryAfter?: number }

export interface DeliveryDeps {
  events: EventService
  /** Moves when events are committed (any process): the fan-out runs then. */
  wakeup: FeedWakeup
  webhooks: WebhookService
  settings: WebhookSettings
  /** The hub's secret: the subscriptions' signing secrets are sealed under it, one-time tokens derived from it. */
  secret: string
  log: FastifyBaseLogger
  /** Counts outcomes (the metrics). */
  onOutcome?(result: 'succeeded' | 'retrying' | 'failed' | 'gone'): void
}

const toDelivery = (r: {
  event_id: string
  event_position: string
  status: WebhookDelivery['status']
  attempts: number
  next_attempt_at: Date
  last_status: number | null
  last_error: string | null
  last_attempt_at: Date | null
  completed_at: Date | null
  replays: number
  created_at: Date
}): WebhookDelivery => ({
  eventId: r.event_id,
  sequence: r.event_position,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null,
  lastStatus: r.last_status,
  lastError: r.last_error,
  lastAttemptAt: r.last_attempt_at?.toISOString() ?? null,
  completedAt: r.completed_at?.toISOString() ?? null,
  replays: r.replays,
  createdAt: r.created_at.toISOString(),
})

/**
 * Carries the outbox's events to the webhook subscriptions, from every hub process at once.
 *
 * - **Fan-out**: whichever process holds the one `webhook_fanout` row's lock reads the next events
 *   after its position (only those no running transaction can still precede, see the feed) and
 *   writes a delivery for each enabled subscription whose patterns match, then moves the position
 *   — one transaction, so an event is fanned out once.
 * - **Claim**: due pending deliveries that are the oldest pending of their (subscription, customer),
 *   at most `per_endpoint` in flight per subscription over every process, taken with
 *   `FOR UPDATE SKIP LOCKED` and leased (`lease_until`) for twice the timeout and 5 s.
 * - **Attempt**: a Standard Webhooks POST; the outcome is written only while the lease is still
 *   this process's (a guarded update), so a delivery another process took over is never
 *   recorded twice. A process that dies loses nothing: the lease runs out and it is claimed again.
 */
export function createDeliveryWorker(deps: DeliveryDeps) {
  const { settings, log } = deps
  const owner = `proc_${randomBytes(9).toString('base64url')}`
  const inFlight = new Set<Promise<void>>()

  /** One fan-out step: the number of events it read (0 when another process holds the fan-out). */
  async function fanOut(db: Executor): Promise<number> {
    return withTransaction(db, async (tx) => {
      const cursor = await sql<{ position: string }>`SELECT position::text AS position FROM webhook_fanout FOR UPDATE SKIP LOCKED`.execute(tx)
      const after = cursor.rows[0]?.position
      if (after === undefined) return 0
      const enabled = () => tx.selectFrom('webhooks').select(['id', 'events', 'created_at']).where('enabled', '=', true).execute()
      // read before the subscriptions: a subscription made after this read wants none of these events
      const end = await deps.events.visibleEnd(tx, after)
      if (end === after) return 0
      if ((await enabled()).length === 0) {
        // nobody to send to: move past them without reading them
        await tx.updateTable('webhook_fanout').set({ position: end }).execute()
        return 0
      }
      const page = await deps.events.read(tx, after, FANOUT_BATCH)
      // the subscriptions read after the page: one committed before an event of the page began is among them
      const hooks = await enabled()
      const rows = page.data.flatMap((event) =>
        NOT_FANNED_OUT.has(event.type)
          ? []
          : hooks
              // a subscription gets the events of transactions begun after its own (not its own creation)
              .filter((h) => h.created_at.toISOString() < event.createdAt && matchesEvent(h.events, event.type))
              .map((h) => ({ webhook_id: h.id, event_id: event.id, event_position: event.sequence, order_key: event.customerId ?? event.id })),
      )
      for (let i = 0; i < rows.length; i += 1000) {
        await tx.insertInto('webhook_deliveries').values(rows.slice(i, i + 1000)).onConflict((oc) => oc.doNothing()).execute()
      }
      await tx.updateTable('webhook_fanout').set({ position: page.nextAfter }).execute()
      return page.data.length
    })
  }

  /** Claims up to `n` deliveries for this process. */
  async function claim(db: Executor, n: number): Promise<Claimed[]> {
    const { rows } = await sql<Claimed>`
      WITH busy AS (
        SELECT webhook_id, count(*) AS n FROM webhook_deliveries
        WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until > now() GROUP BY webhook_id),
      due AS (
        -- due, free, and the oldest pending of its (subscription, customer): walks the due index in
        -- order and stops once it has enough (each older-pending check is one index probe)
        SELECT d.webhook_id, d.event_id, d.next_attempt_at, d.event_position
        FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until <= now())
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                          WHERE p.webhook_id = d.webhook_id AND p.order_key = d.order_key AND p.status = 'pending' AND p.event_position < d.event_position)
        ORDER BY d.next_attempt_at, d.event_position
        LIMIT ${n * 4}),
      candidates AS (
        SELECT c.webhook_id, c.event_id FROM (
          SELECT due.*, row_number() OVER (PARTITION BY due.webhook_id ORDER BY due.next_attempt_at, due.event_position) AS nth FROM due
        ) c LEFT JOIN busy b ON b.webhook_id = c.webhook_id
        WHERE c.nth + coalesce(b.n, 0) <= ${settings.perEndpoint}
        ORDER BY c.next_attempt_at, c.event_position
        LIMIT ${n}),
      locked AS (
        SELECT d.webhook_id, d.event_id FROM webhook_deliveries d JOIN candidates c USING (webhook_id, event_id)
        WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= now())
        FOR UPDATE OF d SKIP LOCKED)
      UPDATE webhook_deliveries d SET lease_owner = ${owner}, lease_until = now() + make_interval(secs => ${leaseSeconds(settings.timeout)})
      FROM locked WHERE d.webhook_id = locked.webhook_id AND d.event_id = locked.event_id
      RETURNING d.webhook_id, d.event_id, d.attempts`.execute(db)
    return rows
  }

  /** One POST, as the Standard Webhooks specification describes it. */
  async function post(url: string, eventId: string, secrets: string[], body: string): Promise<Outcome> {
    const timestamp = Math.floor(Date.now() / 1000)
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'customer-hub-webhooks',
          'webhook-id': eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': sign(secrets, eventId, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(settings.timeout * 1000),
      })
      // the answer's body is not read beyond what frees the connection
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status }
      const retryAfter = res.status === 429 || res.status === 503 ? retryAfterSeconds(res.headers.get('retry-after'), Date.now()) : undefined
      return { ok: false, status: res.status, error: null, ...(retryAfter !== undefined && { retryAfter }) }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } }
      const error = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timeout' : `connection failed${e.cause?.code ? ` (${e.cause.code})` : ''}`
      return { ok: false, status: null, error }
    }
  }

  /** Writes an attempt's outcome while the lease is still ours; later events (failed, disabled) in the same transaction. */
  async function record(db: Executor, c: Claimed, event: { id: string; type: string }, outcome: Outcome): Promise<void> {
    const attempts = c.attempts + 1
    if (outcome.ok) {
      // one statement: the delivery succeeded (while the lease is ours), and its subscription is no longer failing
      const { rows } = await sql<{ n: number }>`
        WITH done AS (
          UPDATE webhook_deliveries SET status = 'succeeded', attempts = ${attempts}, last_status = ${outcome.status}, last_error = NULL,
            last_attempt_at = now(), completed_at = now(), lease_owner = NULL, lease_until = NULL
          WHERE webhook_id = ${c.webhook_id} AND event_id = ${c.event_id} AND status = 'pending' AND lease_owner = ${owner}
          RETURNING webhook_id),
        cleared AS (UPDATE webhooks SET failing_since = NULL WHERE id IN (SELECT webhook_id FROM done) AND failing_since IS NOT NULL RETURNING 1)
        SELECT (SELECT count(*) FROM done)::int AS n`.execute(db)
      if (rows[0]!.n > 0) deps.onOutcome?.('succeeded')
      return
    }
    const last = { attempts, last_status: outcome.status, last_error: outcome.error, last_attempt_at: sql<Date>`now()`, lease_owner: null, lease_until: null }
    await withTransaction(db, async (tx) => {
      const gone = outcome.status === 410
      const finalAttempt = gone || attempts >= settings.retrySchedule.length
      const wait = finalAttempt ? 0 : Math.max(retryDelay(settings.retrySchedule, attempts), outcome.retryAfter ?? 0)
      const changed = await tx
        .updateTable('webhook_deliveries')
        .where('webhook_id', '=', c.webhook_id).where('event_id', '=', c.event_id)
        .where('status', '=', 'pending').where('lease_owner', '=', owner)
        .set(finalAttempt ? { ...last, status: 'failed', completed_at: sql<Date>`now()` } : { ...last, next_attempt_at: sql<Date>`now() + make_interval(secs => ${wait})` })
        .executeTakeFirst()
      if (Number(changed.numUpdatedRows) === 0) return
      deps.onOutcome?.(gone ? 'gone' : finalAttempt ? 'failed' : 'retrying')
      if (finalAttempt && !gone && event.type !== 'webhook.delivery_failed') {
        await deps.events.emit(tx, {
          type: 'webhook.delivery_failed',
          customerId: null,
          payload: { webhookId: c.webhook_id, eventId: event.id, eventType: event.type, attempts, lastStatus: outcome.status, lastError: outcome.error },
        })
      }
      // failing since the first failure after a success; past disable_after (or gone) the subscription is disabled
      const hook = await tx
        .updateTable('webhooks')
        .set({ failing_since: sql<Date>`coalesce(failing_since, now())` })
        .where('id', '=', c.webhook_id)
        .returning([sql<boolean>`failing_since <= now() - make_interval(secs => ${settings.disableAfter})`.as('too_long'), 'enabled'])
        .executeTakeFirst()
      if (hook?.enabled && (gone || hook.too_long)) {
        const reason = gone ? 'gone' : 'failing'
        const row = await tx.updateTable('webhooks').set({ enabled: false, disabled_reason: reason, updated_at: sql<Date>`now()` }).where('id', '=', c.webhook_id).returning(webhookColumns).executeTakeFirstOrThrow()
        await deps.events.emit(tx, { type: 'webhook.disabled', customerId: null, payload: { webhook: toWebhook(row, new Date()), reason } })
        log.warn({ webhookId: c.webhook_id, reason }, 'webhook subscription disabled')
      }
    })
  }

  type Target = Awaited<ReturnType<WebhookService['targets']>>[number]

  async function attempt(db: Executor, c: Claimed, event: HubEvent | undefined, target: Target | undefined): Promise<void> {
    if (!target) return // removed meanwhile: its deliveries went with it
    if (!event) {
      // the event is gone (it cannot be, short of someone deleting it by hand): nothing to send
      await record(db, c, { id: c.event_id, type: 'unknown' }, { ok: false, status: null, error: 'event not found' })
      return
    }
    const outcome = await post(target.url, event.id, target.secrets, deliveryBody(event, target.allowSecrets, deps.secret))
    log.debug({ webhookId: c.webhook_id, eventId: event.id, status: outcome.status, ok: outcome.ok }, 'webhook attempt')
    await record(db, c, event, outcome)
  }

  // fan out when events were committed since the last fan-out (the feed's notification), when the
  // last one read a full batch, or at the idle interval (a notification lost while not listening)
  let fannedAtVersion = -1
  let fannedAt = 0
  let fanoutFull = false

  return {
    owner,
    fanOut,
    claim,

    /**
     * One step of the worker: fans out, then claims what free slots allow and starts those
     * deliveries (not awaited: each frees its slot when done and `onSlotFree` is called). Says
     * whether to run again at once.
     */
    async step(db: Executor, onSlotFree: () => void): Promise<boolean> {
      const version = deps.wakeup.version
      if (fanoutFull || version !== fannedAtVersion || Date.now() - fannedAt >= settings.pollIntervalMs) {
        fannedAtVersion = version
        fannedAt = Date.now()
        fanoutFull = (await fanOut(db)) === FANOUT_BATCH
      }
      const free = settings.concurrency - inFlight.size
      if (free <= 0) return fanoutFull
      const claimed = await claim(db, free)
      if (claimed.length === 0) return fanoutFull
      // what the claimed deliveries need, in two queries for all of them
      const events = new Map((await deps.events.byIds(db, [...new Set(claimed.map((c) => c.event_id))])).map((e) => [e.id, e]))
      const targets = new Map((await deps.webhooks.targets(db, [...new Set(claimed.map((c) => c.webhook_id))])).map((t) => [t.id, t]))
      for (const c of claimed) {
        const running: Promise<void> = attempt(db, c, events.get(c.event_id), targets.get(c.webhook_id))
          .catch((err: unknown) => log.error({ err, webhookId: c.webhook_id, eventId: c.event_id }, 'webhook delivery failed to run; its lease will run out and it is tried again'))
          .finally(() => {
            inFlight.delete(running)
            onSlotFree()
          })
        inFlight.add(running)
      }
      return fanoutFull || claimed.length === free
    },

    /** Per subscription, the age of its oldest pending delivery in seconds (0 when none), for the metrics. */
    async lag(db: Executor): Promise<Array<{ sink: string; seconds: number }>> {
      const { rows } = await sql<{ id: string; seconds: number }>`
        SELECT w.id, coalesce(extract(epoch FROM now() - min(d.created_at)), 0)::float8 AS seconds
        FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id AND d.status = 'pending'
        GROUP BY w.id`.execute(db)
      return rows.map((r) => ({ sink: `webhook:${r.id}`, seconds: Number(r.seconds) }))
    },

    /** Removes deliveries that ended longer ago than `retention_days`, in batches; answers how many. */
    async prune(db: Executor): Promise<number> {
      let removed = 0
      for (;;) {
        const { numAffectedRows } = await sql`
          DELETE FROM webhook_deliveries WHERE ctid IN (
            SELECT ctid FROM webhook_deliveries
            WHERE status <> 'pending' AND completed_at < now() - make_interval(days => ${settings.retentionDays})
            LIMIT 5000)`.execute(db)
        const n = Number(numAffectedRows ?? 0)
        removed += n
        if (n < 5000) return removed
      }
    },

    /** Waits for the deliveries in flight (at shutdown). */
    async drain(): Promise<void> {
      await Promise.allSettled([...inFlight])
    },

    /** `GET /webhooks/:id/deliveries`: newest event first. */
    async list(db: Executor, webhookId: string, query: WebhookDeliveryQuery): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
      await deps.webhooks.get(db, webhookId) // 404 when there is none
      const limit = query.limit ?? 50
      const rows = await db
        .selectFrom('webhook_deliveries')
        .select(['event_id', sql<string>`event_position::text`.as('event_position'), 'status', 'attempts', 'next_attempt_at', 'last_status', 'last_error', 'last_attempt_at', 'completed_at', 'replays', 'created_at'])
        .where('webhook_id', '=', webhookId)
        .$if(query.status !== undefined, (q) => q.where('status', '=', query.status!))
        .$if(query.cursor !== undefined, (q) => q.where(sql<boolean>`event_position < ${query.cursor}::bigint`))
        .orderBy('event_position', 'desc')
        .limit(limit + 1)
        .execute()
      const data = rows.slice(0, limit).map(toDelivery)
      return { data, nextCursor: rows.length > limit ? data.at(-1)!.sequence : null }
    },

    /** `POST /webhooks/:id/replay`: every delivery from `from` on that succeeded or failed is pending again. */
    async replay(tx: Tx, webhookId: string, from: string): Promise<number> {
      await deps.webhooks.get(tx, webhookId)
      let since: ReturnType<typeof sql<boolean>>
      if (/^evt_[0-9A-Z]{26}$/.test(from)) {
        const start = await tx.selectFrom('webhook_deliveries').select(sql<string>`event_position::text`.as('p')).where('webhook_id', '=', webhookId).where('event_id', '=', from).executeTakeFirst()
        if (!start) throw new HubError('REPLAY_FROM_INVALID', `Event ${from} was never sent to this subscription.`)
        since = sql<boolean>`event_position >= ${start.p}::bigint`
      } else {
        const at = /^\d{4}-\d{2}-\d{2}T/.test(from) ? Date.parse(from) : NaN
        if (Number.isNaN(at)) throw new HubError('REPLAY_FROM_INVALID')
        since = sql<boolean>`created_at >= ${new Date(at)}`
      }
      const done = await tx
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', attempts: 0, next_attempt_at: sql<Date>`now()`, completed_at: null, lease_owner: null, lease_until: null, replays: sql<number>`replays + 1` })
        .where('webhook_id', '=', webhookId)
        .where('status', 'in', ['succeeded', 'failed'])
        .where(since)
        .executeTakeFirst()
      return Number(done.numUpdatedRows)
    },

    /** `POST /webhooks/:id/test`: a `webhook.test` event, delivered to this subscription only. */
    async test(tx: Tx, webhookId: string): Promise<string> {
      const hook = await deps.webhooks.get(tx, webhookId)
      if (!hook.enabled) throw new HubError('WEBHOOK_DISABLED')
      const event = await deps.events.emitOne(tx, { type: 'webhook.test', customerId: null, payload: { webhookId } })
      await tx.insertInto('webhook_deliveries').values({ webhook_id: webhookId, event_id: event.id, event_position: event.sequence, order_key: event.id }).execute()
      return event.id
    },
  }
}
export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>
