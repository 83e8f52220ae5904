import type { ApiRole, Role } from '@his-her/contract'
import { HubError } from '../errors.js'

/** Who is calling: an API token, a logged-in customer, a service account, or a staff user (the console). */
export type Principal = ApiTokenPrincipal | CustomerPrincipal | ServicePrincipal | StaffPrincipal

export type { Role }

export interface ApiTokenPrincipal {
  kind: 'api-token'
  role: ApiRole
  /** The token's name (`env` for HUB_ADMIN_TOKEN). */
  name: string
  tokenId: string | null
  /** The identity components a platform token acts in; null: every one (an admin token, a platform token made before scopes). */
  components: readonly string[] | null
  /** The platform names a platform token reports orders as; null: every one. */
  platforms: readonly string[] | null
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

export interface StaffPrincipal {
  kind: 'staff'
  /** As the user's row says now. */
  role: 'admin' | 'support'
  staffId: string
  /** The user's email. */
  name: string
  tokenId: null
}

/** The logged-in customer's id: the `/customer/me` routes take it from the token, never from the request. */
export function customerIdOf(principal: Principal): string {
  if (principal.kind !== 'customer') throw new Error('a /customer/me route was reached without a customer token') // the route's access guarantees it
  return principal.customerId
}

/**
 * The identity components the caller may name, or null for every one. Only an API token is
 * bound to components; a staff user acts in every one, any other principal that reached a route
 * naming one in none.
 */
export function componentsOf(principal: Principal): readonly string[] | null {
  if (principal.kind === 'staff') return null // a person in the console sees every platform's records
  return principal.kind === 'api-token' ? principal.components : []
}

/** The platform names the caller may report orders as, or null for every one (as {@link componentsOf}). */
export function platformsOf(principal: Principal): readonly string[] | null {
  if (principal.kind === 'staff') return null
  return principal.kind === 'api-token' ? principal.platforms : []
}

const named = (list: readonly string[]) => (list.length ? list.join(', ') : 'none')

/**
 * Refuses a request that names an identity component the caller's token is not bound to: 403
 * `PLATFORM_SCOPE`, before anything is read or written. Admin tokens (and platform tokens made
 * before tokens had scopes) pass for every component.
 *
 * @example
 * ```ts
 * requireComponent(principal, body.platform.component) // a sync from identity.shopify-eu
 * ```
 */
export function requireComponent(principal: Principal, component: string): void {
  const allowed = componentsOf(principal)
  if (allowed === null || allowed.includes(component)) return
  throw new HubError('PLATFORM_SCOPE', `This token acts in the identity components ${named(allowed)}, not in ${component}.`, { component })
}

/** Refuses (403 `PLATFORM_SCOPE`) an order reported or cancelled under a platform name the caller's token is not bound to. */
export function requirePlatform(principal: Principal, platform: string): void {
  const allowed = platformsOf(principal)
  if (allowed === null || allowed.includes(platform)) return
  throw new HubError('PLATFORM_SCOPE', `This token reports orders as ${named(allowed)}, not as ${platform}.`, { platform })
}
