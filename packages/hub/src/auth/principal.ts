import type { ApiRole } from '@his-her/contract'

/** Who is calling: an API token, a logged-in customer, or a service account. */
export type Principal = ApiTokenPrincipal | CustomerPrincipal | ServicePrincipal

export type Role = Principal['role']
export const roles: readonly Role[] = ['admin', 'platform', 'service', 'customer']

export interface ApiTokenPrincipal {
  kind: 'api-token'
  role: ApiRole
  /** The token's name (`env` for HUB_ADMIN_TOKEN). */
  name: string
  tokenId: string | null
}

export interface CustomerPrincipal {
  kind: 'customer'
  role: 'customer'
  customerId: string
  name: string
  tokenId: null
}

export interface ServicePrincipal {
  kind: 'service'
  role: 'service'
  serviceAccountId: string
  /** The loyalty provider the account acts for (a seller's), when it has one. */
  providerId: string | null
  organizationId: string
  /** The account's handle. */
  name: string
  tokenId: null
}
