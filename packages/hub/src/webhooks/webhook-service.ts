import { sql, type Selectable, type UpdateObject } from 'kysely'
import type { Database } from '../db/database.js'
import { eventTypes, type Webhook, type WebhookInput, type WebhookPatch, type WebhookWithSecret } from '@his-her/contract'
import type { Executor, Tx } from '../db/executor.js'
import type { EventService } from '../events/event-store.js'
import { HubError } from '../errors.js'
import { newId } from '../ids.js'
import { createSealer } from '../secrets.js'
import { newWebhookSecret } from './signature.js'
import type { WebhooksTable } from './tables.js'

/** How long the previous secret keeps signing after a rotation. */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000

export const webhookColumns = ['id', 'url', 'events', 'description', 'enabled', 'disabled_reason', 'failing_since', 'allow_secrets', 'previous_secret_expires_at', 'created_at', 'updated_at'] as const
export type WebhookRow = Pick<Selectable<WebhooksTable>, (typeof webhookColumns)[number]>

export function toWebhook(row: WebhookRow, now: Date): Webhook {
  const previous = row.previous_secret_expires_at
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since?.toISOString() ?? null,
    allowSecrets: row.allow_secrets,
    previousSecretExpiresAt: previous && previous > now ? previous.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/**
 * The url of a subscription, checked: absolute, http or https, with a host and without user name
 * or password (they would be a secret kept in plaintext). Loopback and private addresses are
 * allowed on purpose: receivers on the same host or network (a mailer, a warehouse loader) are
 * usual, and only an admin names a url.
 */
export function checkWebhookUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new HubError('WEBHOOK_URL_INVALID', `${JSON.stringify(url.slice(0, 100))} is not an absolute URL.`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HubError('WEBHOOK_URL_INVALID', `A webhook url uses http or https, not ${parsed.protocol.slice(0, -1)}.`)
  if (parsed.hostname === '') throw new HubError('WEBHOOK_URL_INVALID', 'A webhook url names a host.')
  if (parsed.username !== '' || parsed.password !== '') throw new HubError('WEBHOOK_URL_INVALID', 'A webhook url carries no user name or password; authenticate the hub by its signature.')
  return parsed.href
}

const knownTypes = new Set<string>(eventTypes)
const knownPrefixes = new Set<string>(eventTypes.flatMap((t) => t.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))))

/** The event patterns of a subscription, checked and without repeats: known types, `<prefix>.*` of a known prefix, or `*`. */
export function checkEventPatterns(patterns: readonly string[]): string[] {
  const out = [...new Set(patterns)]
  for (const p of out) {
    const ok = p === '*' || knownTypes.has(p) || (p.endsWith('.*') && knownPrefixes.has(p.slice(0, -2)))
    if (!ok) throw new HubError('WEBHOOK_EVENT_UNKNOWN', `${JSON.stringify(p)} names no known event type: use a type, \`<prefix>.*\` of a known prefix, or \`*\`.`, { pattern: p })
  }
  return out
}

/** Whether an event type is one a subscription's patterns name. */
export function matchesEvent(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))))
}

export interface WebhookServiceDeps {
  events: EventService
  /** The hub's secret: the signing secrets are sealed under it. */
  secret: string
  clock: () => Date
}

/**
 * Webhook subscriptions. A subscription's signing secret is made by the hub, answered once
 * (on creation and on each rotation) and kept only sealed; its events never carry it.
 */
export function createWebhookService(deps: WebhookServiceDeps) {
  const sealer = createSealer(deps.secret, 'webhook secrets')

  async function find(db: Executor, id: string): Promise<WebhookRow> {
    const row = await db.selectFrom('webhooks').select(webhookColumns).where('id', '=', id).executeTakeFirst()
    if (!row) throw new HubError('WEBHOOK_NOT_FOUND')
    return row
  }

  /** Changes the subscription's row, writes `webhook.updated` and answers the subscription (404 when there is none). */
  async function change(tx: Tx, id: string, set: UpdateObject<Database, 'webhooks'>): Promise<Webhook> {
    const row = await tx.updateTable('webhooks').set({ ...set, updated_at: sql<Date>`now()` }).where('id', '=', id).returning(webhookColumns).executeTakeFirst()
    if (!row) throw new HubError('WEBHOOK_NOT_FOUND')
    const webhook = toWebhook(row, deps.clock())
    await deps.events.emit(tx, { type: 'webhook.updated', customerId: null, payload: { webhook } })
    return webhook
  }

  /** Where and how to send to these subscriptions (those that exist): url, whether secrets may go there, the secrets to sign with now. */
  async function targets(db: Executor, ids: readonly string[]): Promise<Array<{ id: string; url: string; allowSecrets: boolean; secrets: string[] }>> {
    if (ids.length === 0) return []
    const rows = await db
      .selectFrom('webhooks')
      .select(['id', 'url', 'allow_secrets', 'secret_sealed', 'previous_secret_sealed', 'previous_secret_expires_at'])
      .where('id', 'in', ids)
      .execute()
    const now = deps.clock()
    return rows.map((row) => ({
      id: row.id,
      url: row.url,
      allowSecrets: row.allow_secrets,
      secrets: [
        sealer.open(row.secret_sealed),
        ...(row.previous_secret_sealed && row.previous_secret_expires_at && row.previous_secret_expires_at > now ? [sealer.open(row.previous_secret_sealed)] : []),
      ],
    }))
  }

  return {
    async create(tx: Tx, input: WebhookInput): Promise<WebhookWithSecret> {
      const url = checkWebhookUrl(input.url)
      const events = checkEventPatterns(input.events)
      const secret = newWebhookSecret()
      const row = await tx
        .insertInto('webhooks')
        .values({
          id: newId('whk'),
          url,
          events: sql<string[]>`${events}::text[]`,
          description: input.description ?? null,
          allow_secrets: input.allowSecrets ?? false,
          secret_sealed: sealer.seal(secret),
        })
        .returning(webhookColumns)
        .executeTakeFirstOrThrow()
      const webhook = toWebhook(row, deps.clock())
      await deps.events.emit(tx, { type: 'webhook.created', customerId: null, payload: { webhook } })
      return { ...webhook, secret }
    },

    async list(db: Executor): Promise<Webhook[]> {
      const rows = await db.selectFrom('webhooks').select(webhookColumns).orderBy('created_at').orderBy('id').execute()
      const now = deps.clock()
      return rows.map((r) => toWebhook(r, now))
    },

    async get(db: Executor, id: string): Promise<Webhook> {
      return toWebhook(await find(db, id), deps.clock())
    },

    async update(tx: Tx, id: string, patch: WebhookPatch): Promise<Webhook> {
      const url = patch.url === undefined ? undefined : checkWebhookUrl(patch.url)
      const events = patch.events === undefined ? undefined : checkEventPatterns(patch.events)
      return change(tx, id, {
        ...(url !== undefined && { url }),
        ...(events !== undefined && { events: sql<string[]>`${events}::text[]` }),
        ...(patch.description !== undefined && { description: patch.description }),
        // enabling (again) starts afresh: no reason to be disabled, not failing
        ...(patch.enabled !== undefined && { enabled: patch.enabled, disabled_reason: null, failing_since: null }),
      })
    },

    async remove(tx: Tx, id: string): Promise<void> {
      const row = await tx.deleteFrom('webhooks').where('id', '=', id).returning(webhookColumns).executeTakeFirst()
      if (!row) throw new HubError('WEBHOOK_NOT_FOUND')
      await deps.events.emit(tx, { type: 'webhook.deleted', customerId: null, payload: { webhook: toWebhook(row, deps.clock()) } })
    },

    /**
     * A new secret; the one current until now signs too for 24 hours. One statement moves the
     * current secret to `previous` under the row's lock, so of two rotations at once the second
     * keeps the first one's secret as its previous, and a secret answered once always signs for
     * at least 24 hours unless rotated out twice.
     */
    async rotateSecret(tx: Tx, id: string): Promise<WebhookWithSecret> {
      const secret = newWebhookSecret()
      const expires = new Date(deps.clock().getTime() + PREVIOUS_SECRET_TTL_MS)
      const webhook = await change(tx, id, {
        previous_secret_sealed: sql<string>`secret_sealed`,
        previous_secret_expires_at: expires,
        secret_sealed: sealer.seal(secret),
      })
      return { ...webhook, secret }
    },

    /**
     * The secrets a message to this subscription is signed with now: the current one, then the
     * previous one while it is valid. For `sign` of `signature.ts`.
     */
    async signingSecrets(db: Executor, id: string): Promise<string[]> {
      const [target] = await targets(db, [id])
      if (!target) throw new HubError('WEBHOOK_NOT_FOUND')
      return target.secrets
    },

    targets,

  }
}
export type WebhookService = ReturnType<typeof createWebhookService>
