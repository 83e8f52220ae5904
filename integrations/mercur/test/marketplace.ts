// What the hooks' tests of both Mercur versions share: the marketplace's settings of the connect
// library, and the hub's read of a seller's provider.
import { randomBytes } from 'node:crypto'
import { hubReader } from '../../test-helpers'

const secret = () => randomBytes(24).toString('base64url')

/** Sets the connect library's settings as the first source document gives them to a marketplace, and the app's secrets. */
export function useMarketplaceEnv(hub: { url: string; marketplaceToken: string }, extra: Record<string, string> = {}): void {
  Object.assign(process.env, {
    HIS_HER_CUSTOMER_STRAPI_URL: hub.url,
    HIS_HER_CUSTOMER_STRAPI_API_TOKEN: hub.marketplaceToken,
    HIS_HER_CUSTOMER_AUTH_MODE: 'service-jwt',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_PASSWORD: secret(),
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ROLE_ID: '3',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_EMAIL_DOMAIN: 'service.local',
    HIS_HER_CUSTOMER_SERVICE_ACCOUNT_ORGANIZATION_ID: '12',
    HIS_HER_CUSTOMER_LOYALTY_PROVIDER_PARTNER_HANDLE: 'hisher',
    LOYALTY_CHANNEL_HANDLE: 'multistore',
    JWT_SECRET: secret(),
    COOKIE_SECRET: secret(),
    ...extra,
  })
}

/** The hub's loyalty provider of Mercur's seller `sellerId`, or undefined. */
export function providerReader(hubGet: ReturnType<typeof hubReader>) {
  return async (sellerId: string) => ((await hubGet('/loyalty-providers?kind=seller')).data as any[]).find((p) => p.sellerId === sellerId)
}
