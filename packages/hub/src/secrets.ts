import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'

/**
 * Encryption at rest under the hub's secret (`HUB_SECRET`): AES-256-GCM with a key derived for
 * one `purpose`, so a value sealed for one use cannot be opened as another. A sealed value is
 * `iv.tag.ciphertext` in base64url; opening one that was tampered with throws.
 *
 * @example
 * ```ts
 * const keys = createSealer(secret, 'signing keys')
 * const stored = keys.seal(pkcs8) // … later: keys.open(stored)
 * ```
 */
export function createSealer(secret: string, purpose: string) {
  const key = createHash('sha256').update(`customer-hub ${purpose}\0${secret}`).digest()
  return {
    seal(plain: string): string {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url')).join('.')
    },
    open(sealed: string): string {
      const [iv, tag, data] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'))
      const decipher = createDecipheriv('aes-256-gcm', key, iv!)
      decipher.setAuthTag(tag!)
      return Buffer.concat([decipher.update(data!), decipher.final()]).toString('utf8')
    },
  }
}
export type Sealer = ReturnType<typeof createSealer>

/** A keyed fingerprint (HMAC-SHA256, hex) of `value` under the hub's secret, for one `purpose`. */
export function fingerprint(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', `customer-hub ${purpose}\0${secret}`).update(value).digest('hex')
}
