import { createHmac, randomBytes } from 'node:crypto'

const PREFIX = 'whsec_'

/**
 * A new signing secret: `whsec_` and the base64 of 32 random bytes, as the Standard Webhooks
 * specification describes (24 to 64 bytes).
 */
export function newWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64')
}

/** The key of a secret: the bytes its base64 (after `whsec_`) stands for. */
function keyOf(secret: string): Buffer {
  const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret
  const key = Buffer.from(encoded, 'base64')
  if (key.length === 0) throw new Error('a webhook secret is `whsec_` and base64 of at least one byte')
  return key
}

/**
 * The `webhook-signature` header of one message, per the Standard Webhooks specification:
 * `v1,` and the base64 HMAC-SHA256 of `{msgId}.{timestamp}.{body}` under each secret, the entries
 * separated by a space (two while a rotated secret is still valid, the current one first).
 * `timestamp` is in Unix seconds; `body` is the exact text sent.
 *
 * @example
 * ```ts
 * sign(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
 * // 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' (the example of the specification)
 * ```
 */
export function sign(secrets: readonly string[], msgId: string, timestamp: number, body: string): string {
  if (secrets.length === 0) throw new Error('sign needs at least one secret')
  if (!Number.isSafeInteger(timestamp)) throw new Error(`webhook timestamp must be whole Unix seconds: ${timestamp}`)
  const content = `${msgId}.${timestamp}.${body}`
  return secrets.map((secret) => `v1,${createHmac('sha256', keyOf(secret)).update(content, 'utf8').digest('base64')}`).join(' ')
}
