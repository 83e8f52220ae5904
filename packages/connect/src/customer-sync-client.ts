import type {
  Customer,
  CustomerInput,
  CustomerPatch,
  EnsuredRewardAccount,
  Identity,
  IdentityConflict,
  IdentityInput,
  MatchRule,
  Merge,
  RejectedIdentifier,
  OperationId,
  ResultOf,
  Routes,
  SyncInput,
  SyncResult,
} from '@his-her/contract'
import { createHttpClient, type FetchLike, type HttpClient } from './http-client.js'
import { createdCustomer, HubApiError, isHubApiError } from './hub-error.js'
import { backoffDelay, checkRetries, isRetryable, sleep } from './retry.js'
import { callRoute, type RouteInput } from './route-call.js'
import { contractPatterns, routeTable } from './routes.generated.js'

/** Where the customer sync writes its lines. Messages never carry the API token. */
export type SyncLogger = {
  info(msg: string): void
  warn(msg: string): void
  error(msg: string, err?: unknown): void
}

/** The default logger of {@link createCustomerSyncClient}: it writes nothing. */
export const silentSyncLogger: SyncLogger = { info() {}, warn() {}, error() {} }

/** A logger that writes to the console (`console.info`, `console.warn`, `console.error`), each line prefixed. */
export const consoleSyncLogger: SyncLogger = {
  info: (msg) => console.info(`[his-her/connect] ${msg}`),
  warn: (msg) => console.warn(`[his-her/connect] ${msg}`),
  error: (msg, err) => (err === undefined ? console.error(`[his-her/connect] ${msg}`) : console.error(`[his-her/connect] ${msg}`, err)),
}

/** How this platform names its customers in the hub. */
export interface PlatformIdentityConfig {
  /** The platform's identity component, e.g. `identity.his-and-her-store` (lower-case, `[a-z0-9._-]`). */
  component: string
  /** The platform's name for its customer id, e.g. `medusaCustomerId`. */
  externalIdField: string
  /**
   * The country this platform's phone numbers without `+` are read in (ISO 3166-1 alpha-2, e.g.
   * `TH`: a Thai store's `081-234-5678` is `+66812345678`). Default: what the hub is configured
   * with for this component, else its `default_country`.
   */
  defaultCountry?: string | undefined
}

export interface CustomerSyncConfig {
  /** Where the hub answers. Default `http://localhost:1337`. */
  cdpHost?: string | undefined
  /**
   * An API token of the hub (role `platform` or `admin`). May be undefined: the client is still
   * made, and its calls then fail with the hub's `UNAUTHORIZED` (401).
   */
  cdpApiToken?: string | undefined
  platformIdentity: PlatformIdentityConfig
  /** The ledger in which every synced customer gets a reward account, e.g. `reward-points`. */
  rewardLedger?: string | undefined
  /** Another `fetch` than the global one. */
  fetch?: FetchLike | undefined
  /** Gives up on one attempt after this many milliseconds (`TIMEOUT`, then retried). Default 10 000. */
  timeoutMs?: number | undefined
  /** How often a call that got no answer, a 5xx, or a timeout is tried again. Default 3. */
  retries?: number | undefined
  /** The first backoff delay; each further one doubles (with jitter, at most 5 s). Default 200. */
  retryDelayMs?: number | undefined
}

/** What a platform knows of a customer, for {@link CustomerSyncClient.syncCustomer}. */
export interface SyncCustomerInput {
  /** The customer's id on this platform, stored under `platformIdentity.externalIdField`. */
  externalId: string
  email?: string | null | undefined
  phone?: string | null | undefined
  firstName?: string | null | undefined
  lastName?: string | null | undefined
  /** Merged key by key into the customer's metadata; a `null` value removes the key. */
  metadata?: Record<string, unknown> | undefined
}

export interface SyncCustomerResult {
  /** The hub's id of the customer (`cus_…`). */
  documentId: string
  /** True when this sync created the customer. */
  created: boolean
  /** True when this sync opened the customer's account in `rewardLedger`. */
  rewardAccountCreated: boolean
  /** Which rule of the cascade found the customer (platform id → email → phone); null when created. */
  matchedBy: MatchRule | null
  /** The customer as it is after the sync. */
  contact: Customer
  /** The identities this sync added to the customer. */
  linked: Identity[]
  /** Identifiers of the request that another customer holds and could not be joined; they stay with that customer. */
  conflicts: IdentityConflict[]
  /** Merges this sync made: other customers its identifiers showed to be this person (reason `sync`). */
  joined: Merge[]
  /** The email or phone that was not valid: not linked, the sync went on with the rest. */
  rejected: RejectedIdentifier[]
}

/**
 * One way a contact is known: the component and one field naming the identifier.
 * - a platform: `{ component: 'identity.his-and-her-store', medusaCustomerId: 'cus_abc123' }`
 * - an email: `{ component: 'identity.email', email: 'jane@example.com' }`
 * - a phone: `{ component: 'identity.phone', phone: '+66812345678' }`
 */
export interface ContactIdentity {
  component: string
  [field: string]: string
}

/** The component of an email entry of {@link ContactIdentity}. */
export const EMAIL_IDENTITY_COMPONENT = 'identity.email'
/** The component of a phone entry of {@link ContactIdentity}. */
export const PHONE_IDENTITY_COMPONENT = 'identity.phone'

export interface CreateContactInput {
  firstName: string
  lastName?: string | null | undefined
  /** The customer's email; default: the first `identity.email` entry of `identities`. */
  email?: string | undefined
  /** The customer's phone; default: the first `identity.phone` entry of `identities`. */
  phone?: string | undefined
  /** Usually from {@link CustomerSyncClient.buildIdentities}. */
  identities: ContactIdentity[]
  metadata?: Record<string, unknown> | undefined
}

export interface CreatedContact {
  contact: Customer
  documentId: string
}

export interface CustomerSyncClient {
  /**
   * Finds or creates the customer in one call to `POST /customer/sync`: platform id, then email,
   * then phone; identifiers nobody holds are linked to the customer, and its reward account in
   * `rewardLedger` is opened. Calls that got no answer, a 5xx or a timeout are retried with the
   * same `Idempotency-Key`, so a retry never makes a second customer. Throws {@link HubApiError}.
   *
   * @example
   * ```ts
   * const { documentId, created, matchedBy, conflicts } = await sync.syncCustomer({
   *   externalId: 'cus_abc123', email: 'jane@example.com', firstName: 'Jane',
   * })
   * ```
   */
  syncCustomer(input: SyncCustomerInput): Promise<SyncCustomerResult>
  /**
   * Runs the cascade without writing: the customer holding this platform id, else this email,
   * else this phone; null when nobody does.
   *
   * @example
   * ```ts
   * const found = await sync.findContact('cus_abc123', 'jane@example.com')
   * ```
   */
  findContact(externalId: string | null | undefined, email?: string | null, phone?: string | null): Promise<Customer | null>
  /**
   * Creates a customer and links its identities. Nothing is created when one of the platform
   * identities is already held (`IDENTITY_TAKEN`) or the email/phone is taken (`EMAIL_TAKEN`,
   * `PHONE_TAKEN`). Should linking fail after the customer was made, the error keeps the hub's
   * code and names the customer in its message and in `details.createdCustomerId`.
   *
   * @example
   * ```ts
   * const { contact, documentId } = await sync.createContact({
   *   firstName: 'Jane',
   *   identities: sync.buildIdentities({ externalId: 'cus_abc123', email: 'jane@example.com' }),
   * })
   * ```
   */
  createContact(input: CreateContactInput): Promise<CreatedContact>
  /**
   * The identity objects of a customer of this platform: the platform id under the configured
   * `externalIdField`, then the email and the phone when given.
   *
   * @example
   * ```ts
   * sync.buildIdentities({ externalId: 'cus_abc123', email: 'jane@example.com' })
   * // [{ component: 'identity.his-and-her-store', medusaCustomerId: 'cus_abc123' },
   * //  { component: 'identity.email', email: 'jane@example.com' }]
   * ```
   */
  buildIdentities(input: { externalId: string; email?: string | null | undefined; phone?: string | null | undefined }): ContactIdentity[]
  /**
   * Changes the given fields (`PATCH /customer/:id`); `metadata` merges key by key.
   *
   * @example
   * ```ts
   * const contact = await sync.updateContact(documentId, { lastName: 'Smith' })
   * ```
   */
  updateContact(documentId: string, patch: CustomerPatch): Promise<Customer>
  /**
   * Makes sure the customer has an account in `rewardLedger` (or the ledger given); `created`
   * tells whether this call opened it.
   *
   * @example
   * ```ts
   * const { account, created } = await sync.ensureRewardAccount(documentId)
   * ```
   */
  ensureRewardAccount(documentId: string, ledger?: string): Promise<EnsuredRewardAccount>
  /**
   * The HTTP client the sync uses, with its base URL and token, for routes this client has no
   * method for. Its calls are not retried.
   *
   * @example
   * ```ts
   * const { data } = await sync.getStrapiClient().get<{ data: Identity[] }>(`/customer/${documentId}/identities`)
   * ```
   */
  getStrapiClient(): HttpClient
}

const componentPattern = new RegExp(contractPatterns.component)
const fieldPattern = new RegExp(contractPatterns.externalIdField)

function invalid(message: string): HubApiError {
  return new HubApiError({ status: 0, code: 'INVALID_ARGUMENT', message })
}

function present(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.trim() !== ''
}

/** Drops undefined values, so that a request body holds only what was given. */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/** An identity of {@link ContactIdentity} as the hub's `POST /customer/:id/identities` takes it. */
function toIdentityInput(entry: ContactIdentity): IdentityInput {
  const { component, ...fields } = entry
  if (typeof component !== 'string' || component === '') throw invalid(`an identity has no component: ${JSON.stringify(Object.keys(entry))}`)
  if (component === EMAIL_IDENTITY_COMPONENT || component === PHONE_IDENTITY_COMPONENT) {
    const kind = component === EMAIL_IDENTITY_COMPONENT ? 'email' : 'phone'
    const value = fields[kind]
    if (!present(value)) throw invalid(`a ${component} identity needs its "${kind}" field`)
    return { kind, value }
  }
  const names = Object.keys(fields)
  const [field] = names
  if (names.length !== 1 || field === undefined || !present(fields[field])) {
    throw invalid(`the ${component} identity must have exactly one id field besides component (e.g. { component, medusaCustomerId: 'cus_…' }); it has ${names.length}`)
  }
  if (!componentPattern.test(component)) throw invalid(`"${component}" is not an identity component (lower-case letters, digits, . _ -)`)
  if (!fieldPattern.test(field)) throw invalid(`"${field}" is not an id field name (letters, digits, _)`)
  return { kind: 'platform', namespace: component, value: fields[field]!, externalIdField: field }
}

function describeIdentity(i: IdentityInput): string {
  return i.kind === 'platform' ? `${i.namespace} identity ${i.value}` : `${i.kind} identity`
}

const conflictWhy: Record<IdentityConflict['reason'], string> = {
  owned_by_other: 'it stays there',
  phone_shared_with_other_email: 'who has another email; not linked',
  different_email: 'each has an email of its own; not joined',
  different_phone: 'each has a phone of its own; not joined',
  both_have_accounts: 'each has a login account; not joined',
  account_unverified: 'one is an account whose email is not verified; not joined',
  different_platform_id: 'each has an id on the same platform; not joined',
  merge_undone: 'an admin undid their merge; not joined',
  currency_differs: 'their orders are in different currencies; not joined',
}

function describeConflict(customerId: string, c: IdentityConflict): string {
  const what = c.kind === 'platform' ? `the ${c.namespace} identity ${c.value}` : `the ${c.kind} identity`
  return `customer ${customerId}: ${what} is held by customer ${c.customerId}, ${conflictWhy[c.reason]} (${c.reason})`
}

/**
 * The customer-sync client of a platform (a store, a marketplace): it finds or creates the one
 * hub customer behind a platform's customer, links the platform id, email and phone, and opens
 * the reward account. Every failure is a {@link HubApiError} with the hub's stable `code`.
 *
 * The logger is silent unless one is given; pass {@link consoleSyncLogger} to write to the console.
 *
 * @example
 * ```ts
 * import { createCustomerSyncClient } from '@his-her/connect'
 *
 * const sync = createCustomerSyncClient({
 *   cdpHost: process.env.CDP_HOST || 'http://localhost:1337',
 *   cdpApiToken: process.env.CDP_API_TOKEN,
 *   platformIdentity: { component: 'identity.his-and-her-store', externalIdField: 'medusaCustomerId' },
 *   rewardLedger: 'reward-points',
 * })
 * const result = await sync.syncCustomer({ externalId: 'cus_abc123', email: 'jane@example.com' })
 * ```
 */
export function createCustomerSyncClient(config: CustomerSyncConfig, logger: SyncLogger = silentSyncLogger): CustomerSyncClient {
  const { component, externalIdField, defaultCountry } = config.platformIdentity ?? ({} as Partial<PlatformIdentityConfig>)
  if (typeof component !== 'string' || !componentPattern.test(component)) {
    throw new TypeError(`platformIdentity.component must be lower-case letters, digits, . _ - (e.g. identity.his-and-her-store); got ${JSON.stringify(component)}`)
  }
  if (component === EMAIL_IDENTITY_COMPONENT || component === PHONE_IDENTITY_COMPONENT) {
    throw new TypeError(`platformIdentity.component cannot be ${component}: it names email and phone identities`)
  }
  if (typeof externalIdField !== 'string' || !fieldPattern.test(externalIdField) || externalIdField === 'component') {
    throw new TypeError(`platformIdentity.externalIdField must be a field name such as medusaCustomerId; got ${JSON.stringify(externalIdField)}`)
  }
  if (defaultCountry !== undefined && (typeof defaultCountry !== 'string' || !/^[A-Za-z]{2}$/.test(defaultCountry))) {
    throw new TypeError(`platformIdentity.defaultCountry must be a two-letter country code such as TH or US; got ${JSON.stringify(defaultCountry)}`)
  }
  const retries = checkRetries(config.retries ?? 3)
  const baseDelay = config.retryDelayMs ?? 200
  const rewardLedger = config.rewardLedger

  const http = createHttpClient({
    baseUrl: config.cdpHost ?? 'http://localhost:1337',
    token: config.cdpApiToken,
    fetch: config.fetch,
    timeoutMs: config.timeoutMs ?? 10_000,
  })

  /**
   * Calls one operation of the hub, trying again after an answer-less failure or a 5xx. Writes
   * carry one `Idempotency-Key` over all attempts, so the hub runs them once and replays the answer.
   */
  async function call<K extends OperationId>(operation: K, input: RouteInput<K>): Promise<ResultOf<Routes[K]>> {
    const { method, path } = routeTable[operation]
    const headers = method === 'GET' ? undefined : { 'idempotency-key': globalThis.crypto.randomUUID() }
    for (let attempt = 1; ; attempt++) {
      try {
        return (await callRoute(http, operation, input, { headers })).body
      } catch (err) {
        if (attempt > retries || !isRetryable(err)) throw err
        const delay = backoffDelay(attempt, baseDelay)
        const e = err as HubApiError
        logger.warn(`${method} ${path} failed with ${e.code}${e.status ? ` (${e.status})` : ''}, attempt ${attempt} of ${retries + 1}; retrying in ${delay} ms`)
        await sleep(delay)
      }
    }
  }

  const platformLabel = (externalId: string) => `${component} ${externalId}`

  async function syncCustomer(input: SyncCustomerInput): Promise<SyncCustomerResult> {
    const body: SyncInput = defined({
      platform: defined({ component: component!, externalIdField: externalIdField!, externalId: input.externalId, defaultCountry }),
      email: input.email,
      phone: input.phone,
      firstName: input.firstName,
      lastName: input.lastName,
      metadata: input.metadata,
      rewardLedger,
    })
    let result: SyncResult
    try {
      result = await call('syncCustomer', { body })
    } catch (err) {
      const e = err as Partial<HubApiError>
      logger.error(`sync of ${platformLabel(input.externalId)} failed: ${e.code ?? 'ERROR'}${e.status ? ` (${e.status})` : ''}`, err)
      throw err
    }
    const id = result.documentId
    const reward = result.rewardAccountCreated ? `; reward account opened in ${rewardLedger}` : ''
    logger.info(
      result.created
        ? `created customer ${id} for ${platformLabel(input.externalId)}${reward}`
        : `matched customer ${id} by ${result.matchedBy} for ${platformLabel(input.externalId)}${result.linked.length ? `; linked ${result.linked.map((l) => l.kind).join(', ')}` : ''}${reward}`,
    )
    for (const merge of result.joined) logger.info(`customer ${id}: joined customer ${merge.sourceId} into it (merge ${merge.id}, reason sync)`)
    for (const conflict of result.conflicts) logger.warn(describeConflict(id, conflict))
    for (const r of result.rejected) logger.warn(`customer ${id}: the ${r.field} sent for ${platformLabel(input.externalId)} is not valid, not linked (${r.code})`)
    return {
      documentId: id,
      created: result.created,
      rewardAccountCreated: result.rewardAccountCreated,
      matchedBy: result.matchedBy,
      contact: result.customer,
      linked: result.linked,
      conflicts: result.conflicts,
      joined: result.joined,
      rejected: result.rejected,
    }
  }

  async function lookup(query: { component?: string; externalId?: string; email?: string; phone?: string; defaultCountry?: string }): Promise<Customer | null> {
    try {
      return (await call('lookupCustomer', { query })).customer
    } catch (err) {
      if (isHubApiError(err, 'NO_MATCH')) return null
      throw err
    }
  }

  async function findContact(externalId: string | null | undefined, email?: string | null, phone?: string | null): Promise<Customer | null> {
    return lookup(
      defined({
        component: present(externalId) || present(phone) ? component : undefined,
        externalId: present(externalId) ? externalId : undefined,
        defaultCountry: present(phone) ? defaultCountry : undefined,
        email: present(email) ? email : undefined,
        phone: present(phone) ? phone : undefined,
      }),
    )
  }

  async function createContact(input: CreateContactInput): Promise<CreatedContact> {
    if (!Array.isArray(input.identities)) throw invalid('createContact needs identities, e.g. sync.buildIdentities({ externalId, email })')
    const identities = input.identities.map(toIdentityInput)
    const email = input.email ?? identities.find((i) => i.kind === 'email')?.value
    const phone = input.phone ?? identities.find((i) => i.kind === 'phone')?.value
    // the customer's own email and phone become identities when it is created; the rest is linked after
    const toLink = identities.filter((i) => !((i.kind === 'email' && i.value === email) || (i.kind === 'phone' && i.value === phone)))

    // A platform id someone holds would fail the link after the customer exists: refuse it first.
    for (const identity of toLink.filter((i) => i.kind === 'platform')) {
      const holder = await lookup({ component: identity.namespace!, externalId: identity.value })
      if (holder) {
        throw new HubApiError({
          status: 409,
          code: 'IDENTITY_TAKEN',
          message: `the ${describeIdentity(identity)} is held by customer ${holder.id}; no customer was created`,
          details: { customerId: holder.id },
        })
      }
    }

    const customerInput: CustomerInput = defined({
      email,
      phone,
      firstName: input.firstName,
      lastName: input.lastName,
      metadata: input.metadata,
    })
    const contact = createdCustomer(await call('createCustomer', { body: customerInput }))
    const linked: Identity[] = []
    for (const identity of toLink) {
      try {
        linked.push(await call('linkIdentity', { params: { id: contact.id }, body: identity }))
      } catch (err) {
        const e = isHubApiError(err) ? err : new HubApiError({ status: 0, code: 'NETWORK_ERROR', message: String(err), cause: err })
        const message = `customer ${contact.id} was created, but linking its ${describeIdentity(identity)} failed with ${e.code}: ${e.message}. The customer exists without this identity and those after it; link them with POST /customer/${contact.id}/identities or remove the customer.`
        logger.error(message, err)
        throw new HubApiError({
          status: e.status,
          code: e.code,
          message,
          details: { ...e.details, createdCustomerId: contact.id, linked: linked.map((l) => l.id), failedIdentity: identity },
          requestId: e.requestId,
          cause: err,
        })
      }
    }
    logger.info(`created customer ${contact.id}${linked.length ? ` with ${linked.map((l) => (l.kind === 'platform' ? l.namespace : l.kind)).join(', ')}` : ''}`)
    return { contact, documentId: contact.id }
  }

  function buildIdentities(input: { externalId: string; email?: string | null | undefined; phone?: string | null | undefined }): ContactIdentity[] {
    const out: ContactIdentity[] = []
    if (present(input.externalId)) out.push({ component: component!, [externalIdField!]: input.externalId })
    if (present(input.email)) out.push({ component: EMAIL_IDENTITY_COMPONENT, email: input.email })
    if (present(input.phone)) out.push({ component: PHONE_IDENTITY_COMPONENT, phone: input.phone })
    return out
  }

  return {
    syncCustomer,
    findContact,
    createContact,
    buildIdentities,
    updateContact: async (documentId, patch) => call('updateCustomer', { params: { id: documentId }, body: patch }),
    async ensureRewardAccount(documentId, ledger = rewardLedger) {
      if (ledger === undefined) {
        throw invalid('ensureRewardAccount needs a ledger: set rewardLedger in the createCustomerSyncClient config (e.g. reward-points) or pass one')
      }
      return call('ensureRewardAccount', { params: { id: documentId }, body: { ledger } })
    },
    getStrapiClient: () => http,
  }
}
