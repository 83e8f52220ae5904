import type {
  Address,
  AddressInput,
  AddressPatch,
  CancelOrderInput,
  CancelOrderResult,
  Customer,
  CustomerInput,
  CustomerListQuery,
  CustomerPage,
  CustomerPatch,
  CustomerMePatch,
  MyCustomer,
  DeletedAnswer,
  Identity,
  LoginInput,
  OperationId,
  OrderInput,
  OrderResult,
  ResultOf,
  RewardAccount,
  Routes,
  Session,
  WhoAmI,
} from '@his-her/contract'
import { createHttpClient, type AuthProvider, type FetchLike, type HttpClient, type RequestOptions } from './http-client.js'
import { createLoyaltyApi, type LoyaltyApi } from './loyalty-client.js'
import { checkRetries } from './retry.js'
import { callRoute, type RouteInput } from './route-call.js'
import { createdCustomer } from './hub-error.js'

export interface CommerceClientOptions {
  /** Where the hub answers, e.g. `http://localhost:1337`. */
  baseUrl: string
  /** An API token (admin or platform) or an access token; may be set later with `setToken`. */
  token?: string | undefined
  /** Gives the token of each call instead of a fixed `token`, e.g. `createServiceJwtAuth(…)`. */
  auth?: AuthProvider | undefined
  /** Another `fetch` than the global one. */
  fetch?: FetchLike | undefined
  /** Gives up on a call after this many milliseconds (`TIMEOUT`); 0 waits forever. Default 30 000. */
  timeoutMs?: number | undefined
  /**
   * How often a `loyalty` call that got no answer, a 5xx or a timeout is sent again, with the
   * same idempotency key. Default 3. Other calls are not retried.
   */
  retries?: number | undefined
  /** The first backoff delay of those retries; each further one doubles (with jitter, at most 5 s). Default 200. */
  retryDelayMs?: number | undefined
}

/** The answer of a removal. */
export type Deleted = DeletedAnswer

/** {@link CustomerListQuery} without the cursor: `listAll` walks the pages itself. */
export type CustomerListAllQuery = Omit<CustomerListQuery, 'cursor'>

export interface CustomersApi {
  /**
   * Registers a customer: with a password the record is an account, without one a guest.
   * Throws `EMAIL_TAKEN` / `PHONE_TAKEN` (409) when another customer has the email or phone,
   * `PASSWORD_TOO_SHORT`, `VALIDATION_FAILED` (400).
   *
   * @example
   * ```ts
   * const customer = await commerce.customers.create({
   *   email: 'jane@example.com',
   *   firstName: 'Jane',
   *   lastName: 'Doe',
   *   password: 'securePassword123',
   * })
   * ```
   */
  create(input: CustomerInput): Promise<Customer>
  /**
   * Reads a customer. Throws `CUSTOMER_NOT_FOUND` (404), `INVALID_ID` (400) for a malformed id.
   *
   * @example
   * ```ts
   * const jane = await commerce.customers.get('cus_…')
   * ```
   */
  get(id: string): Promise<Customer>
  /**
   * Changes the given fields; `metadata` is merged key by key (a `null` value removes the key).
   *
   * @example
   * ```ts
   * await commerce.customers.update(id, { phone: '+14155551234', metadata: { tier: 'gold' } })
   * ```
   */
  update(id: string, patch: CustomerPatch): Promise<Customer>
  /**
   * Soft-deletes a customer (admin token); its email and phone become free.
   *
   * @example
   * ```ts
   * await commerce.customers.delete(id) // { deleted: true, id }
   * ```
   */
  delete(id: string): Promise<Deleted>
  /**
   * One page of customers matching every filter (admin token). Pass `nextCursor` back as
   * `cursor` for the next page, or use {@link CustomersApi.listAll}.
   *
   * @example
   * ```ts
   * const { data, nextCursor } = await commerce.customers.list({ group: 'vip', minOrders: 5, sort: 'totalSpent:desc' })
   * ```
   */
  list(query?: CustomerListQuery): Promise<CustomerPage>
  /**
   * Every customer matching the filters, fetching page after page as the loop asks for more.
   *
   * @example
   * ```ts
   * for await (const customer of commerce.customers.listAll({ group: ['vip', 'wholesale'], limit: 200 })) {
   *   console.log(customer.email)
   * }
   * ```
   */
  listAll(query?: CustomerListAllQuery): AsyncGenerator<Customer, void, undefined>
  /**
   * Saves an address; the first one becomes the default. Throws `ADDRESS_LIMIT_REACHED` (422)
   * beyond `max_addresses`, `INVALID_COUNTRY` / `INVALID_PHONE` (400).
   *
   * @example
   * ```ts
   * const office = await commerce.customers.addAddress(id, {
   *   label: 'Office', line1: '456 Market St', city: 'San Francisco', state: 'CA', postalCode: '94105', country: 'US',
   * })
   * ```
   */
  addAddress(customerId: string, input: AddressInput): Promise<Address>
  /**
   * Changes an address; `isDefault: true` makes it the default. Throws `ADDRESS_NOT_FOUND` (404),
   * `DEFAULT_ADDRESS_REQUIRED` (409) for `isDefault: false` on the default.
   *
   * @example
   * ```ts
   * await commerce.customers.updateAddress(id, office.id, { isDefault: true })
   * ```
   */
  updateAddress(customerId: string, addressId: string, patch: AddressPatch): Promise<Address>
  /**
   * Removes an address; the oldest remaining one becomes the default.
   *
   * @example
   * ```ts
   * await commerce.customers.removeAddress(id, office.id) // { deleted: true, id: office.id }
   * ```
   */
  removeAddress(customerId: string, addressId: string): Promise<Deleted>
  /**
   * Adds the customer to a group such as `vip` (lower-case; idempotent).
   *
   * @example
   * ```ts
   * const { groups } = await commerce.customers.addToGroup(id, 'vip')
   * ```
   */
  addToGroup(customerId: string, group: string): Promise<Customer>
  /**
   * Removes the customer from a group (idempotent).
   *
   * @example
   * ```ts
   * await commerce.customers.removeFromGroup(id, 'vip')
   * ```
   */
  removeFromGroup(customerId: string, group: string): Promise<Customer>
  /**
   * The logged-in customer's own record (a customer's access token). Throws `FORBIDDEN` (403)
   * for any other token, `TOKEN_EXPIRED` (401) once the access token has expired.
   *
   * @example
   * ```ts
   * commerce.setToken(session.accessToken)
   * const me = await commerce.customers.me()
   * ```
   */
  me(): Promise<MyCustomer>
  /**
   * Changes the logged-in customer's name, email or phone; nothing else (role, groups, totals)
   * may be changed this way (`VALIDATION_FAILED`). A new email or phone needs `currentPassword`
   * (`CURRENT_PASSWORD_REQUIRED`, 403) and is linked only when the token sent to it comes back
   * (`POST /auth/verify-email` / `/auth/verify-phone`); until then it is in `pending`.
   *
   * @example
   * ```ts
   * await commerce.customers.updateMe({ firstName: 'Janet' })
   * const me = await commerce.customers.updateMe({ phone: '+14155551234', currentPassword: 'securePassword123' })
   * me.pending.phone // '+14155551234' until the token sent to it comes back
   * ```
   */
  updateMe(patch: CustomerMePatch): Promise<MyCustomer>
  /**
   * Saves an address of the logged-in customer, like {@link CustomersApi.addAddress}.
   *
   * @example
   * ```ts
   * await commerce.customers.addMyAddress({ line1: '1 Main St', city: 'Austin', postalCode: '73301', country: 'US' })
   * ```
   */
  addMyAddress(input: AddressInput): Promise<Address>
  /**
   * The logged-in customer's identities (email, phone, platform ids).
   *
   * @example
   * ```ts
   * const { data } = await commerce.customers.myIdentities()
   * ```
   */
  myIdentities(): Promise<{ data: Identity[] }>
  /**
   * The logged-in customer's reward accounts.
   *
   * @example
   * ```ts
   * const { data } = await commerce.customers.myRewardAccounts()
   * ```
   */
  myRewardAccounts(): Promise<{ data: RewardAccount[] }>
}

export interface AuthApi {
  /**
   * Logs a customer (or a service account) in with email and password; pass the session's
   * `accessToken` to `setToken`. Throws `INVALID_CREDENTIALS` (401) for a wrong email or
   * password alike, `EMAIL_NOT_VERIFIED` (403) before the customer verified the email (when the
   * hub requires it), `RATE_LIMITED` (429).
   *
   * @example
   * ```ts
   * const session = await commerce.auth.login({ email: 'jane@example.com', password: 'securePassword123' })
   * commerce.setToken(session.accessToken)
   * ```
   */
  login(input: LoginInput): Promise<Session>
  /**
   * Trades a refresh token for a new session. A refresh token works once: presenting it again
   * throws `REFRESH_TOKEN_REUSED` (401) and revokes the new session too; an unknown, expired or
   * revoked one throws `INVALID_REFRESH_TOKEN` (401).
   *
   * @example
   * ```ts
   * const next = await commerce.auth.refresh(session.refreshToken)
   * commerce.setToken(next.accessToken)
   * ```
   */
  refresh(refreshToken: string): Promise<Session>
  /**
   * Ends the session of a refresh token (its later refreshes fail). The access token stays valid
   * until it expires (`expiresIn`). Unknown tokens are ignored.
   *
   * @example
   * ```ts
   * await commerce.auth.logout(session.refreshToken)
   * commerce.setToken(undefined)
   * ```
   */
  logout(refreshToken: string): Promise<{ loggedOut: true }>
  /**
   * Who the current token stands for: `{ kind: 'customer', role: 'customer', customerId }`, a
   * service account, or an API token.
   *
   * @example
   * ```ts
   * const { customerId } = await commerce.auth.session()
   * ```
   */
  session(): Promise<WhoAmI>
}

export interface OrdersApi {
  /**
   * Reports an order, idempotent per `platform` and `externalId`: `outcome` tells whether it was
   * `recorded`, a `corrected` total, or an `unchanged` repeat; the customer's new `orderCount`
   * and `totalSpent` come with it. Throws `CURRENCY_MISMATCH` (422), `ORDER_CUSTOMER_MISMATCH` (409).
   *
   * @example
   * ```ts
   * const result = await commerce.orders.record({
   *   platform: 'shopify', externalId: '1001', customerId: customer.id,
   *   total: 4580, currency: 'USD', placedAt: new Date().toISOString(),
   * })
   * ```
   */
  record(input: OrderInput): Promise<OrderResult>
  /**
   * Cancels an order: it leaves the customer's totals and the points it earned are taken back
   * (`points`). A repeat answers `outcome: 'unchanged'`. Throws `ORDER_NOT_FOUND` (404).
   *
   * @example
   * ```ts
   * const { outcome, points } = await commerce.orders.cancel({ platform: 'shopify', externalId: '1001' })
   * ```
   */
  cancel(input: CancelOrderInput): Promise<CancelOrderResult>
}

export interface CommerceClient {
  auth: AuthApi
  customers: CustomersApi
  orders: OrdersApi
  /** Points: earn, spend, adjust, transfer, reverse, holds, balances and entries of a ledger (default `reward-points`). */
  loyalty: LoyaltyApi
  /**
   * Uses another token for every later call, e.g. the access token of a login; `undefined`
   * sends none (or, with an `auth` provider, the provider's again).
   *
   * @example
   * ```ts
   * commerce.setToken(session.accessToken)
   * ```
   */
  setToken(token: string | undefined): void
}

/**
 * The commerce SDK: login, customers, addresses, groups, orders and points of the customer hub. Every failed
 * call throws a {@link HubApiError} carrying the hub's stable `code`.
 *
 * @example
 * ```ts
 * import { createCommerceClient } from '@his-her/connect'
 *
 * const commerce = createCommerceClient({ baseUrl: 'http://localhost:1337', token: process.env.HUB_TOKEN })
 * const customer = await commerce.customers.create({
 *   email: 'jane@example.com',
 *   firstName: 'Jane',
 *   lastName: 'Doe',
 *   password: 'securePassword123',
 * })
 * await commerce.customers.addToGroup(customer.id, 'vip')
 * ```
 */
export function createCommerceClient(options: CommerceClientOptions): CommerceClient {
  const retries = checkRetries(options.retries ?? 3)
  const http: HttpClient = createHttpClient(options)
  const call = async <K extends OperationId>(operation: K, input: RouteInput<K>, o?: RequestOptions): Promise<ResultOf<Routes[K]>> =>
    (await callRoute(http, operation, input, o)).body

  const list = (query: CustomerListQuery = {}) => call('listCustomers', { query })

  // async, so that a path segment refused by routePath rejects instead of throwing
  const customers: CustomersApi = {
    create: async (input) => createdCustomer(await call('createCustomer', { body: input })),
    get: async (id) => call('getCustomer', { params: { id } }),
    update: async (id, patch) => call('updateCustomer', { params: { id }, body: patch }),
    delete: async (id) => call('deleteCustomer', { params: { id } }),
    list,
    async *listAll(query = {}) {
      let cursor = (query as CustomerListQuery).cursor
      do {
        const page: CustomerPage = await list({ ...query, ...(cursor === undefined ? {} : { cursor }) })
        yield* page.data
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
    },
    addAddress: async (customerId, input) => call('addAddress', { params: { id: customerId }, body: input }),
    updateAddress: async (customerId, addressId, patch) => call('updateAddress', { params: { id: customerId, addressId }, body: patch }),
    removeAddress: async (customerId, addressId) => call('removeAddress', { params: { id: customerId, addressId } }),
    addToGroup: async (customerId, group) => call('addToGroup', { params: { id: customerId }, body: { group } }),
    removeFromGroup: async (customerId, group) => call('removeFromGroup', { params: { id: customerId, group } }),
    me: async () => call('getMe', {}),
    updateMe: async (patch) => call('updateMe', { body: patch }),
    addMyAddress: async (input) => call('addMyAddress', { body: input }),
    myIdentities: async () => call('myIdentities', {}),
    myRewardAccounts: async () => call('myRewardAccounts', {}),
  }

  // public routes: no token is sent, so a stale one cannot get in the way of a login
  const anonymous = { anonymous: true }
  const auth: AuthApi = {
    login: async ({ email, password }) => call('login', { body: { email, password } }, anonymous),
    refresh: async (refreshToken) => call('refreshSession', { body: { refreshToken } }, anonymous),
    logout: async (refreshToken) => call('logout', { body: { refreshToken } }, anonymous),
    session: async () => call('getSession', {}),
  }

  const orders: OrdersApi = {
    record: async (input) => call('recordOrder', { body: input }),
    cancel: async (input) => call('cancelOrder', { body: input }),
  }

  const loyalty = createLoyaltyApi(http, { retries, retryDelayMs: options.retryDelayMs ?? 200 })

  return { auth, customers, orders, loyalty, setToken: (token) => http.setToken(token) }
}
