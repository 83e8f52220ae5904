const encoder = new TextEncoder()

/**
 * The password of one seller's service account, derived from the one shared secret
 * (`HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD`) and the seller's handle: base64url of
 * HMAC-SHA256(secret, `his-her service account password\0<handle>`). One environment variable
 * still serves every seller, and a seller's password that leaks opens that seller's account only:
 * the secret cannot be recovered from it, nor another seller's password computed.
 *
 * @example
 * ```ts
 * const password = await deriveServiceAccountPassword(process.env.HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD!, 'brand_handle')
 * // 43 characters of base64url; the same for the same secret and handle
 * ```
 */
export async function deriveServiceAccountPassword(secret: string, handle: string): Promise<string> {
  if (!secret) throw new TypeError('deriveServiceAccountPassword needs the shared secret (HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD)')
  const key = await globalThis.crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, encoder.encode(`his-her service account password\0${handle}`)))
  return btoa(String.fromCharCode(...mac)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
