import Type, { type Static } from 'typebox'
import { Deleted, IdOf, List, Nullable, Page, PathId, Timestamp } from './common.js'
import { defineDomain } from './define.js'

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'absolute http:// or https:// URL without user name or password; loopback and private addresses are allowed (only an admin names one)',
})
const EventPattern = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'an event type (`customer.created`), every type of a prefix (`customer.*`), or `*` for every event',
})
const Events = Type.Array(EventPattern, { minItems: 1, maxItems: 100 })
const Description = Type.String({ maxLength: 500 })

export const WebhookInput = Type.Object(
  {
    url: Url,
    events: Events,
    description: Type.Optional(Description),
    allowSecrets: Type.Optional(
      Type.Boolean({ default: false, description: 'the subscription may receive one-time tokens (email verification, password reset) for a mailer; false when left out' }),
    ),
  },
  { additionalProperties: false },
)
export type WebhookInput = Static<typeof WebhookInput>

export const WebhookPatch = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Nullable(Description)),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type WebhookPatch = Static<typeof WebhookPatch>

/** A webhook subscription, never with its signing secret. */
export const Webhook = Type.Object(
  {
    id: IdOf('whk'),
    url: Type.String(),
    events: Type.Array(Type.String()),
    description: Nullable(Type.String()),
    enabled: Type.Boolean(),
    disabledReason: Nullable(
      Type.Union([Type.Literal('gone'), Type.Literal('failing')], {
        description: 'why the hub disabled it: `gone` — the endpoint answered 410; `failing` — every attempt failed for `webhooks.disable_after` (5 days); null when enabled or disabled by an admin',
      }),
    ),
    failingSince: Nullable(Timestamp),
    allowSecrets: Type.Boolean(),
    previousSecretExpiresAt: Nullable(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Webhook' },
)
export type Webhook = Static<typeof Webhook>

export const WebhookWithSecret = Type.Object(
  {
    ...Webhook.properties,
    secret: Type.String({
      pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
      description: 'the signing secret (`whsec_` + base64), shown once: the hub keeps it only encrypted and never answers it again',
    }),
  },
  { $id: 'WebhookWithSecret' },
)
export type WebhookWithSecret = Static<typeof WebhookWithSecret>

export const WebhookDelivery = Type.Object(
  {
    eventId: IdOf('evt'),
    sequence: Type.String({ pattern: '^[0-9]+$', description: "the event's position in the feed" }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')], {
      description: '`pending`: not yet delivered (waiting for its turn, in flight, or waiting for a retry); `succeeded`: a 2xx came back; `failed`: every attempt failed, or the endpoint answered 410',
    }),
    attempts: Type.Integer({ minimum: 0 }),
    nextAttemptAt: Nullable(Timestamp),
    lastStatus: Nullable(Type.Integer({ description: 'the HTTP status of the last attempt; null when none came back' })),
    lastError: Nullable(Type.String({ description: 'why the last attempt failed when no status tells: `timeout`, `connection failed`, …' })),
    lastAttemptAt: Nullable(Timestamp),
    completedAt: Nullable(Timestamp),
    replays: Type.Integer({ minimum: 0, description: 'how often it was sent again by POST /webhooks/:id/replay' }),
    createdAt: Timestamp,
  },
  { $id: 'WebhookDelivery' },
)
export type WebhookDelivery = Static<typeof WebhookDelivery>

export const WebhookDeliveryQuery = Type.Object(
  {
    status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')])),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'the `nextCursor` of the page before' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  },
  { additionalProperties: false },
)
export type WebhookDeliveryQuery = Static<typeof WebhookDeliveryQuery>

export const WebhookReplay = Type.Object(
  {
    from: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'a time (ISO 8601) or an event id: every delivery of this subscription from then on (that event included) that succeeded or failed is sent again',
    }),
  },
  { additionalProperties: false },
)
export type WebhookReplay = Static<typeof WebhookReplay>

const webhookEvent = Type.Object({ webhook: Webhook })
const tags = ['webhooks']
const admin = ['admin'] as const
const Params = Type.Object({ id: PathId })

/** Webhook subscriptions: where the hub posts events, signed per the Standard Webhooks specification. */
export const webhooks = defineDomain({
  errors: {
    WEBHOOK_NOT_FOUND: { status: 404, message: 'No webhook subscription has this id.' },
    WEBHOOK_URL_INVALID: { status: 400, message: 'The webhook url must be an absolute http:// or https:// URL without user name or password.' },
    WEBHOOK_EVENT_UNKNOWN: { status: 400, message: 'An event pattern names no known event type: use a type, `<prefix>.*` of a known prefix, or `*`.' },
    WEBHOOK_DISABLED: { status: 409, message: 'The webhook subscription is disabled: enable it (PATCH enabled: true) first.' },
    REPLAY_FROM_INVALID: { status: 400, message: '`from` must be an ISO 8601 time or the id of an event this subscription was sent.' },
  },
  events: {
    'webhook.created': webhookEvent,
    'webhook.updated': webhookEvent,
    'webhook.deleted': webhookEvent,
    'webhook.disabled': Type.Object({ webhook: Webhook, reason: Type.Union([Type.Literal('gone'), Type.Literal('failing')]) }),
    'webhook.delivery_failed': Type.Object({
      webhookId: IdOf('whk'),
      eventId: IdOf('evt'),
      eventType: Type.String(),
      attempts: Type.Integer(),
      lastStatus: Nullable(Type.Integer()),
      lastError: Nullable(Type.String()),
    }),
    'webhook.test': Type.Object({ webhookId: IdOf('whk') }),
  },
  routes: {
    createWebhook: {
      method: 'POST', path: '/webhooks', tags, access: admin,
      summary: 'Subscribe a URL to events (the signing secret is shown once)',
      description: 'The answer carries the signing secret (`whsec_…`) once; the hub keeps it encrypted and never answers it again. See docs/events.md.',
      body: WebhookInput,
      responses: { 201: WebhookWithSecret },
      errors: ['WEBHOOK_URL_INVALID', 'WEBHOOK_EVENT_UNKNOWN'],
      secretAnswer: true,
    },
    listWebhooks: {
      method: 'GET', path: '/webhooks', tags, access: admin,
      summary: 'List webhook subscriptions, oldest first (never their secrets)',
      responses: { 200: List(Webhook) },
      errors: [],
    },
    getWebhook: {
      method: 'GET', path: '/webhooks/:id', tags, access: admin,
      summary: 'A webhook subscription (never its secret)',
      params: Params,
      responses: { 200: Webhook },
      errors: ['WEBHOOK_NOT_FOUND'],
    },
    updateWebhook: {
      method: 'PATCH', path: '/webhooks/:id', tags, access: admin,
      summary: "Change a subscription's url, events or description, or disable and enable it",
      params: Params,
      body: WebhookPatch,
      responses: { 200: Webhook },
      errors: ['WEBHOOK_NOT_FOUND', 'WEBHOOK_URL_INVALID', 'WEBHOOK_EVENT_UNKNOWN'],
    },
    deleteWebhook: {
      method: 'DELETE', path: '/webhooks/:id', tags, access: admin,
      summary: 'Remove a webhook subscription',
      params: Params,
      responses: { 200: Deleted },
      errors: ['WEBHOOK_NOT_FOUND'],
    },
    rotateWebhookSecret: {
      method: 'POST', path: '/webhooks/:id/rotate-secret', tags, access: admin,
      summary: 'Make a new signing secret (shown once); the previous one stays valid for 24 hours',
      description:
        'Until `previousSecretExpiresAt` the hub signs with both secrets (two space-separated entries of `webhook-signature`), so a receiver can switch at its own pace. Rotating again replaces the previous secret with the one current until then.',
      params: Params,
      responses: { 200: WebhookWithSecret },
      errors: ['WEBHOOK_NOT_FOUND'],
      secretAnswer: true,
    },
    listWebhookDeliveries: {
      method: 'GET', path: '/webhooks/:id/deliveries', tags, access: admin,
      summary: "A subscription's deliveries, newest event first: status, attempts, the last answer and when",
      params: Params,
      query: WebhookDeliveryQuery,
      responses: { 200: Page(WebhookDelivery) },
      errors: ['WEBHOOK_NOT_FOUND'],
    },
    replayWebhook: {
      method: 'POST', path: '/webhooks/:id/replay', tags, access: admin,
      summary: 'Send again every delivery since a time or an event that succeeded or failed',
      description: 'The deliveries become pending again, with new attempts, in their order per customer; those still pending are left as they are. Receivers de-duplicate by `webhook-id` if they must.',
      params: Params,
      body: WebhookReplay,
      responses: { 200: Type.Object({ replayed: Type.Integer({ minimum: 0 }) }) },
      errors: ['WEBHOOK_NOT_FOUND', 'REPLAY_FROM_INVALID'],
    },
    testWebhook: {
      method: 'POST', path: '/webhooks/:id/test', tags, access: admin,
      summary: 'Send a `webhook.test` event to this subscription only',
      description: 'Writes a `webhook.test` event and a delivery of it to this subscription (whatever events it subscribes to; no other subscription gets it). Its outcome shows in GET /webhooks/:id/deliveries.',
      params: Params,
      responses: { 202: Type.Object({ eventId: IdOf('evt') }) },
      errors: ['WEBHOOK_NOT_FOUND', 'WEBHOOK_DISABLED'],
    },
  },
})
