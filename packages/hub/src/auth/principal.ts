import type { ApiRole, Role } from '@his-her/contract'

/** Who is calling: an API token, a logged-in customer, or a service account. */
export type Principal = ApiTokenPrincipal | CustomerPrincipal | ServicePrincipal

export type { Role }

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

/** The logged-in customer's id: the `/customer/me` routes take it from the token, never from the request. */
export function customerIdOf(principal: Principal): string {
  if (principal.kind !== 'customer') throw new Error('a /customer/me route was reached without a customer token') // the route's access guarantees it
  return principal.customerId
}
