import Type, { type Static } from 'typebox'
import { Deleted, IdOf, List, Nullable, PathId, Timestamp } from './common.js'
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
  },
  events: {
    'webhook.created': webhookEvent,
    'webhook.updated': webhookEvent,
    'webhook.deleted': webhookEvent,
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
  },
})
