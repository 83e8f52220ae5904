import { describe, expect, it } from 'vitest'
import { deriveServiceAccountPassword } from './seller-password.js'
import { sellerIdsOf } from './his-her-client.js'

describe('deriveServiceAccountPassword', () => {
  it('is stable for one secret and handle, and differs for another handle or secret', async () => {
    const a = await deriveServiceAccountPassword('service-user-password', 'brand_handle')
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await deriveServiceAccountPassword('service-user-password', 'brand_handle')).toBe(a)
    expect(await deriveServiceAccountPassword('service-user-password', 'other_brand')).not.toBe(a)
    expect(await deriveServiceAccountPassword('another-secret', 'brand_handle')).not.toBe(a)
    expect(a).not.toContain('service-user-password')
  })

  it('is HMAC-SHA256 of the handle under the secret, base64url', async () => {
    const { createHmac } = await import('node:crypto')
    const expected = createHmac('sha256', 'service-user-password').update('his-her service account password\0brand_handle').digest('base64url')
    expect(await deriveServiceAccountPassword('service-user-password', 'brand_handle')).toBe(expected)
  })

  it('refuses an empty secret, naming the variable', async () => {
    await expect(deriveServiceAccountPassword('', 'brand_handle')).rejects.toThrow(/HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD/)
  })
})

describe('sellerIdsOf', () => {
  it('reads both shapes of a Mercur event payload', () => {
    expect(sellerIdsOf({ id: 'sel_1' })).toEqual(['sel_1'])
    expect(sellerIdsOf({ ids: ['sel_1', 'sel_2'] })).toEqual(['sel_1', 'sel_2'])
    expect(sellerIdsOf({ ids: ['sel_1'], id: 'sel_1' })).toEqual(['sel_1'])
    expect(sellerIdsOf({})).toEqual([])
    expect(sellerIdsOf(undefined)).toEqual([])
  })
})
