import type { HubEvent } from '@his-her/contract'

/** Why a webhook message was refused. */
export type WebhookVerificationCode =
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing. */
  | 'WEBHOOK_HEADERS_MISSING'
  /** `webhook-timestamp` is not whole Unix seconds, or is further from now than the tolerance. */
  | 'WEBHOOK_TIMESTAMP_INVALID'
  /** No `v1,` entry of `webhook-signature` is the signature of this message under this secret. */
  | 'WEBHOOK_SIGNATURE_INVALID'
  /** The secret is not `whsec_` and base64. */
  | 'WEBHOOK_SECRET_INVALID'
  /** The signature holds, but the body is not a JSON event. */
  | 'WEBHOOK_BODY_INVALID'

/** A webhook message that did not verify: answer it with a 4xx and do not act on it. */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationCode
  constructor(code: WebhookVerificationCode, message: string) {
    super(message)
    this.name = 'WebhookVerificationError'
    this.code = code
  }
}

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, either way, in seconds (default 300). */
  toleranceSeconds?: number
  /** The time to check the timestamp against (default: now). */
  now?: () => Date
}

/** Headers as a plain object (Node's `IncomingHttpHeaders`, any case) or a fetch `Headers`. */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>

const encoder = new TextEncoder()

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined
  for (const [key, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
    if (key.toLowerCase() !== name) continue
    return typeof value === 'string' ? value : value?.join(', ')
  }
  return undefined
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined
  const binary = atob(text)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

/** Equal bytes, in a time that depends only on the length (an HMAC's length is no secret). */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

async function hmac(secret: string, content: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const raw = fromBase64(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret)
  if (!raw || raw.length === 0) throw new WebhookVerificationError('WEBHOOK_SECRET_INVALID', 'A webhook secret is `whsec_` and base64, as the hub answered it.')
  const key = await globalThis.crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, content))
}

/**
 * Checks a webhook message of the hub as the Standard Webhooks specification says, and gives
 * back its event. The message is the hub's if one `v1,` entry of `webhook-signature` (entries are
 * space-separated: two while the hub's secret is being rotated) is the base64 HMAC-SHA256 of
 * `{webhook-id}.{webhook-timestamp}.{body}` under the secret; signatures are compared in constant
 * time. A `webhook-timestamp` more than `toleranceSeconds` (300) from now is refused, so a
 * recorded message cannot be replayed later. Pass the body exactly as received, before any JSON
 * parsing. Throws {@link WebhookVerificationError} with a `code`.
 *
 * `secret` may be a list: the message verifies under any of them (for a receiver that has
 * rotated to the new secret while older messages are still being retried).
 *
 * @example
 * ```ts
 * const event = await verifyWebhook(process.env.HUB_WEBHOOK_SECRET!, request.headers, rawBody)
 * if (event.type === 'customer.created') console.log(event.payload.customer.id)
 * ```
 */
export async function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaders,
  rawBody: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): Promise<HubEvent> {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signature = header(headers, 'webhook-signature')
  if (!id || !timestamp || !signature) throw new WebhookVerificationError('WEBHOOK_HEADERS_MISSING', 'The message lacks webhook-id, webhook-timestamp or webhook-signature.')

  if (!/^[0-9]{1,15}$/.test(timestamp)) throw new WebhookVerificationError('WEBHOOK_TIMESTAMP_INVALID', 'webhook-timestamp is not Unix seconds.')
  const tolerance = options.toleranceSeconds ?? 300
  const now = Math.floor((options.now?.() ?? new Date()).getTime() / 1000)
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    throw new WebhookVerificationError('WEBHOOK_TIMESTAMP_INVALID', `webhook-timestamp is more than ${tolerance} seconds from now: an old message replayed, or a wrong clock.`)
  }

  const body = typeof rawBody === 'string' ? encoder.encode(rawBody) : rawBody
  const prefix = encoder.encode(`${id}.${timestamp}.`)
  const content = new Uint8Array(prefix.length + body.length)
  content.set(prefix)
  content.set(body, prefix.length)

  const candidates = signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => fromBase64(entry.slice(3)))
    .filter((bytes): bytes is Uint8Array<ArrayBuffer> => bytes !== undefined)
  let valid = false
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const expected = await hmac(s, content)
    // every candidate is compared, so the time does not tell which entry (or secret) matched
    for (const candidate of candidates) valid = constantTimeEqual(expected, candidate) || valid
  }
  if (!valid) throw new WebhookVerificationError('WEBHOOK_SIGNATURE_INVALID', 'No signature of the message is valid under this secret.')

  try {
    const event = JSON.parse(typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody)) as unknown
    if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') throw new Error('not an event')
    return event as HubEvent
  } catch {
    throw new WebhookVerificationError('WEBHOOK_BODY_INVALID', 'The signed body is not a JSON event.')
  }
}
